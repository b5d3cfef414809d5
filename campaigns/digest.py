"""The morning digest: each advisor's hot list by mail, once per working day.

One mail kind = templates/emails/digest.subject.txt / .txt / .html + digest_message().
The scheduler calls send_due_digests() every few minutes; it acts from DIGEST_AT local time
on working days, once per advisor and day (a Redis key, released when the send fails, so
a later tick tries again). Advisors with an empty hot list get no mail.
"""
from __future__ import annotations

from datetime import datetime, time
from email.message import EmailMessage

from sqlalchemy import select

from . import compose, hotlist, transport
from .calendar import is_working_day
from .db import utcnow
from .models import Advisor, Role

DIGEST_AT = time(8, 30)


def _sent_key(day, advisor_id: int) -> str:
    return f"campaigns:digest:{day.isoformat()}:{advisor_id}"


def digest_message(*, advisor: Advisor, entries: list[hotlist.HotEntry], settings, today) -> EmailMessage:
    context = {"advisor": advisor, "entries": entries, "today": today, "hot_url": f"{settings.public_url}/hot/",
               "hot_days": settings.hot_days}
    subject, text, html = compose.render_kind("digest", context)
    return compose.make_message(settings=settings, from_name="Рассылки", from_addr=f"noreply@{settings.mail_domain}",
                                to_name=advisor.name, to_addr=advisor.email, subject=subject, text=text, html=html)


def send_digests(session, settings, redis, now: datetime | None = None) -> int:
    """Send today's digest to every advisor who has not had it yet; returns how many went."""
    now = now or utcnow()
    today = now.astimezone(settings.timezone).date()
    advisors = session.scalars(
        select(Advisor).where(Advisor.role == Role.ADVISOR, Advisor.active.is_(True), Advisor.is_house.is_(False))
        .order_by(Advisor.id)
    ).all()
    sent = 0
    with transport.open_transport(settings.mail) as conn:
        for advisor in advisors:
            entries = hotlist.hot_list(session, advisor.id, settings, now=now)
            if not entries:
                continue
            key = _sent_key(today, advisor.id)
            if not redis.set(key, "1", nx=True, ex=3 * 24 * 3600):
                continue
            try:
                conn.send(digest_message(advisor=advisor, entries=entries, settings=settings, today=today))
            except BaseException:
                redis.delete(key)
                raise
            sent += 1
    return sent


def send_due_digests(session, settings, redis, now: datetime | None = None) -> int:
    """send_digests() on a working day between DIGEST_AT and the end of working hours."""
    now = now or utcnow()
    local = now.astimezone(settings.timezone)
    end = time.fromisoformat(settings.work_end)
    if not is_working_day(local.date()) or not (DIGEST_AT <= local.time() < end):
        return 0
    return send_digests(session, settings, redis, now=now)
