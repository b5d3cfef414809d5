"""The morning digest: each advisor's hot list by mail, once per working day.

The mail is mails.digest_message(). The scheduler calls send_due_digests() every few minutes;
it acts from DIGEST_AT local time on working days, once per advisor and day (recorded in the
database by mails.send_once, removed again when the send fails, so a later tick tries again).
Advisors with an empty hot list get no mail.
"""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select

from . import hotlist, mails, transport
from .calendar import is_working_day
from .db import utcnow
from .models import Advisor, Role

DIGEST_AT = time(8, 30)


def send_digests(session, settings, now: datetime | None = None) -> int:
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
            def send(advisor=advisor, entries=entries):
                conn.send(mails.digest_message(advisor=advisor, entries=entries, settings=settings, today=today))

            try:
                if mails.send_once(session, "digest", advisor.id, today, send):
                    sent += 1
            finally:
                session.commit()  # each advisor's record stands on its own
    return sent


def send_due_digests(session, settings, now: datetime | None = None) -> int:
    """send_digests() on a working day between DIGEST_AT and the end of working hours."""
    now = now or utcnow()
    local = now.astimezone(settings.timezone)
    end = time.fromisoformat(settings.work_end)
    if not is_working_day(local.date()) or not (DIGEST_AT <= local.time() < end):
        return 0
    return send_digests(session, settings, now=now)
