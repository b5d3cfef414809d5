"""No yearly mailing is missed in silence: the notices to marketing and admin.

Each notice is one mail kind (templates/emails/<kind>.subject.txt / .txt / .html and its
function in mails.py; its context is built here), sent by `run()` every few minutes and
recorded by mails.send_once in `sent_notices` as it goes, so it goes once whatever Redis loses:

* ``mailing_reminder`` — 21, 7 and 1 day(s) before a tag's send date, while its offer for
  that year is missing or a draft (marketing; admin gets a copy at 1 day);
* ``mailing_waiting`` — each working morning from the send date while the mailing waits for
  its offer and its window is open (marketing);
* ``mailing_missed`` — once when a mailing is recorded in `missed_mailings` (marketing and admin).

A mailing's state (ready, draft, missing, waiting, sent, missed) is named in mailings.py.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import calendar, mails, transport
from .board import readiness_board
from .config import Settings
from .db import utcnow
from .mailings import STATE_LABELS
from .models import Advisor, MissedMailing, Offer, OfferStatus, Role, SentNotice, Tag

log = logging.getLogger(__name__)

REMIND_DAYS = (21, 7, 1)  # before the send date
ADMIN_COPY_DAYS = 1  # the reminder this close to the send date also goes to admin


# ------------------------------------------------------------------ notices


def _recipients(session: Session, *roles: Role) -> list[Advisor]:
    return list(
        session.scalars(
            select(Advisor).where(Advisor.active.is_(True), Advisor.role.in_(roles)).order_by(Advisor.role, Advisor.id)
        )
    )


def _board_row(session: Session, settings: Settings, tag: Tag, send_on: date, today: date):
    rows = readiness_board(session, settings, today, days=0, start=send_on)
    return next((row for row in rows if row.tag.id == tag.id), None)


def _links(settings: Settings, tag: Tag, year: int, session: Session) -> dict:
    last_year = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year - 1))
    return {
        "offers_url": f"{settings.public_url}/offers?year={year}",
        "last_year_url": f"{settings.public_url}/offers/{last_year.id}" if last_year else None,
        "calendar_url": f"{settings.public_url}/calendar",
    }


def reminder_context(session: Session, settings: Settings, tag: Tag, year: int, send_on: date, today: date, offer) -> dict:
    """The ``mailing_reminder`` mail: the tag, the date, the audience and the advisors' load, the links."""
    row = _board_row(session, settings, tag, send_on, today)
    return {
        "tag": tag,
        "year": year,
        "send_on": send_on,
        "days": (send_on - today).days,
        "offer": offer,
        "audience": row.audience if row else 0,
        "advisors": row.advisors if row else [],
        **_links(settings, tag, year, session),
    }


def waiting_context(
    session: Session, settings: Settings, tag: Tag, year: int, send_on: date, last_day: date, today: date, offer
) -> dict:
    """The ``mailing_waiting`` mail: due since ``send_on``, waits for its offer until ``last_day``."""
    row = _board_row(session, settings, tag, send_on, today)
    return {
        "tag": tag,
        "year": year,
        "send_on": send_on,
        "last_day": last_day,
        "offer": offer,
        "audience": row.audience if row else 0,
        "advisors": row.advisors if row else [],
        **_links(settings, tag, year, session),
    }


def missed_context(session: Session, settings: Settings, record: MissedMailing) -> dict:
    """The ``mailing_missed`` mail: what was missed, for whom, and why."""
    return {
        "tag": record.tag,
        "year": record.year,
        "send_on": record.send_on,
        "last_day": record.last_day,
        "offer_status": STATE_LABELS.get(record.offer_status, record.offer_status),
        "audience": record.audience,
        "mails": record.mails,
        "results_url": f"{settings.public_url}/results/?year={record.year}",
        **_links(settings, record.tag, record.year, session),
    }


def send_notice(
    session: Session,
    settings: Settings,
    *,
    notice: str,
    ref_id: int,
    day: date,
    message,
    context: dict,
    recipients: list[Advisor],
) -> int:
    """Send one notice to ``recipients`` unless it went before (mails.send_once); how many mails went.

    ``message`` is the kind's function in mails.py. The record commits with the mails; a failed
    send removes it, so a later run tries again."""

    def send():
        with transport.open_transport(settings.mail) as conn:
            for user in recipients:
                conn.send(message(user=user, context=context, settings=settings))

    try:
        sent = mails.send_once(session, notice, ref_id, day, send)
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return len(recipients) if sent else 0


def _sent_before(session: Session, notice: str, ref_id: int, day: date) -> bool:
    return (
        session.scalar(select(SentNotice.id).where(SentNotice.kind == notice, SentNotice.ref_id == ref_id, SentNotice.day == day))
        is not None
    )


def _reminder_step(days_to_go: int) -> int | None:
    """The latest of REMIND_DAYS already reached ``days_to_go`` before the send date (one per step)."""
    reached = [step for step in REMIND_DAYS if 0 < days_to_go <= step]
    return min(reached) if reached else None


def run(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Send every notice due now; returns how many mails went. Idempotent (sent_notices)."""
    now = now or utcnow()
    local = now.astimezone(settings.timezone)
    today = local.date()
    morning = calendar.is_working_day(today) and local.time() >= time.fromisoformat(settings.work_start)
    sent = 0
    marketing = _recipients(session, Role.MARKETING) or _recipients(session, Role.ADMIN)
    with_admin = _recipients(session, Role.MARKETING, Role.ADMIN)
    for tag in session.scalars(select(Tag).order_by(Tag.id)).all():
        for year in (today.year, today.year + 1):  # a January occasion's send date can fall in December
            try:
                send_on, last_day = calendar.mailing_window(tag.rule, tag.lead_days, year)
            except ValueError:
                break
            offer = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year))
            if offer is not None and offer.status == OfferStatus.READY:
                continue
            step = _reminder_step((send_on - today).days)
            if step is not None and not _sent_before(session, f"mailing_before_{step}", tag.id, send_on):
                sent += send_notice(
                    session,
                    settings,
                    notice=f"mailing_before_{step}",
                    ref_id=tag.id,
                    day=send_on,
                    message=mails.mailing_reminder_message,
                    context=reminder_context(session, settings, tag, year, send_on, today, offer),
                    recipients=with_admin if step <= ADMIN_COPY_DAYS else marketing,
                )
            elif morning and send_on <= today <= last_day and not _sent_before(session, "mailing_waiting", tag.id, today):
                sent += send_notice(
                    session,
                    settings,
                    notice="mailing_waiting",
                    ref_id=tag.id,
                    day=today,
                    message=mails.mailing_waiting_message,
                    context=waiting_context(session, settings, tag, year, send_on, last_day, today, offer),
                    recipients=marketing,
                )
    told = select(SentNotice.id).where(SentNotice.kind == "mailing_missed", SentNotice.ref_id == MissedMailing.id)
    for record in session.scalars(select(MissedMailing).where(~told.exists()).order_by(MissedMailing.id)).all():
        sent += send_notice(
            session,
            settings,
            notice="mailing_missed",
            ref_id=record.id,
            day=record.last_day,
            message=mails.mailing_missed_message,
            context=missed_context(session, settings, record),
            recipients=with_admin,
        )
    return sent
