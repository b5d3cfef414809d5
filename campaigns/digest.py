"""The morning digest: each advisor's hot list by mail, once per working day.

The mail is mails.digest_message(): the hot list, the house advisor's hot contacts for whoever
admin named to get them, today's planned calls and colleagues' attempts to add one's contacts.
The scheduler calls send_due_digests() every few minutes;
it acts from DIGEST_AT in each recipient's own time zone on working days, once per advisor and day (recorded in the
database by mails.send_once, removed again when the send fails, so a later tick tries again).
Whoever has nothing of these gets no mail.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select

from . import accounts, calls, duplicates, hotlist, mails, ownership, transport
from .calendar import is_working_day
from .config import Settings
from .db import utcnow
from .models import Advisor, Role

DIGEST_AT = time(8, 30)


def recipients(session) -> list[Advisor]:
    """Who gets a digest: active advisors (not the house advisor: nobody reads his mail) and the
    users admin named to get the house advisor's hot contacts, whatever their role."""
    return list(
        session.scalars(
            select(Advisor)
            .where(
                Advisor.active.is_(True),
                Advisor.is_house.is_(False),
                or_(Advisor.role == Role.ADVISOR, Advisor.watches_house.is_(True)),
            )
            .order_by(Advisor.id)
        )
    )


def send_digests(session, settings: Settings, now: datetime | None = None, *, due_only: bool = False) -> int:
    """Send today's digest to every recipient who has not had it yet; returns how many went.

    It holds the own hot list, the house advisor's for whoever gets it, today's planned calls
    colleagues' attempts to add one's contacts (duplicates.attempts_since) and the contacts handed
    to one since yesterday (ownership.handed_over); nothing: no mail.
    Each recipient's day is their own (accounts.work_hours: their time zone and hours); with
    `due_only` only those on a working day between DIGEST_AT and the end of their hours get it."""
    now = now or utcnow()
    sent = 0
    with ExitStack() as stack:
        conn = None
        for advisor in recipients(session):
            _start, end, tz = accounts.work_hours(advisor, settings)
            local = now.astimezone(tz)
            today = local.date()
            if due_only and not (is_working_day(today) and DIGEST_AT <= local.time() < end):
                continue
            own = advisor.role == Role.ADVISOR
            entries = hotlist.hot_list(session, advisor.id, settings, now=now) if own else []
            house, house_entries = hotlist.house_hot_list(session, advisor, settings, now=now)
            planned = calls.planned_calls(session, advisor, today) if own else []
            attempts = duplicates.attempts_since(session, advisor, now - timedelta(days=1)) if own else []
            handed = ownership.handed_over(session, advisor, to_me=True, days=1, now=now) if own else []
            if not (entries or house_entries or planned or attempts or handed):
                continue
            if conn is None:  # opened for the first mail: a tick with nothing to send connects nowhere
                conn = stack.enter_context(transport.open_transport(settings.mail))

            def send(
                advisor=advisor,
                entries=entries,
                house=house,
                house_entries=house_entries,
                planned=planned,
                attempts=attempts,
                handed=handed,
                today=today,
                conn=conn,
            ):
                conn.send(
                    mails.digest_message(
                        advisor=advisor,
                        entries=entries,
                        settings=settings,
                        today=today,
                        house=house,
                        house_entries=house_entries,
                        calls=planned,
                        attempts=attempts,
                        handed=handed,
                    )
                )

            try:
                if mails.send_once(session, "digest", advisor.id, today, send):
                    sent += 1
            finally:
                session.commit()  # each advisor's record stands on its own
    return sent


def send_due_digests(session, settings: Settings, now: datetime | None = None) -> int:
    """send_digests() to those on a working day between DIGEST_AT and the end of their working hours,
    each in their own time zone."""
    return send_digests(session, settings, now=now, due_only=True)
