"""No yearly mailing is missed in silence: its state, and the notices to marketing and admin.

Each notice is one mail kind (templates/emails/<kind>.subject.txt / .txt / .html plus one
function building its context, as offers.notify_offer_late does), sent by `run()` every few
minutes and recorded in `mailing_notices` (tag, year, kind) before it goes, so it goes once
whatever Redis loses:

* ``mailing_reminder`` — 21, 7 and 1 day(s) before a tag's send date, while its offer for
  that year is missing or a draft (marketing; admin gets a copy at 1 day);
* ``mailing_waiting`` — each working morning from the send date while the mailing waits for
  its offer and its window is open (marketing);
* ``mailing_missed`` — once when a mailing is recorded in `missed_mailings` (marketing and admin).

`mailing_state()` is the one place that names a mailing's state for the calendar and the
board: ready, draft, missing, waiting, sent, missed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import calendar
from .db import utcnow
from .models import Advisor, Delivery, DeliveryStatus, MailingNotice, MissedMailing, Offer, OfferStatus, Role, Tag

log = logging.getLogger(__name__)

SYSTEM_NAME = "Рассылки"
REMIND_DAYS = (21, 7, 1)  # before the send date
ADMIN_COPY_DAYS = 1  # the reminder this close to the send date also goes to admin
STATE_LABELS = {
    "ready": "готово", "draft": "черновик", "missing": "нет предложения", "waiting": "ждёт предложения",
    "sent": "отправлено", "missed": "пропущено",
}


@dataclass
class Mailing:
    """One tag's mailing for one (occurrence) year."""

    tag: Tag
    year: int
    send_on: date
    last_day: date
    offer: Offer | None
    state: str
    audience: int = 0
    missed_mails: int = 0

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def mailing_state(today: date, send_on: date, last_day: date, offer: Offer | None, sent: bool, recorded: bool) -> str:
    """The state of a mailing on ``today`` (pure): see STATE_LABELS."""
    ready = offer is not None and offer.status == OfferStatus.READY
    if today < send_on:
        return "ready" if ready else ("draft" if offer is not None else "missing")
    if ready:
        return "sent" if sent or today > last_day else "ready"
    if today <= last_day and not recorded:
        return "waiting"
    return "missed"


def mailings(session: Session, today: date, years: list[int], tags: list[Tag] | None = None) -> list[Mailing]:
    """Every tag's mailing for each of ``years``, with its state on ``today`` (the calendar page)."""
    tags = tags if tags is not None else session.scalars(select(Tag).order_by(Tag.name)).all()
    ids = [tag.id for tag in tags]
    offers = {(o.tag_id, o.year): o for o in session.scalars(select(Offer).where(Offer.tag_id.in_(ids), Offer.year.in_(years)))}
    recorded = {(m.tag_id, m.year): m for m in session.scalars(
        select(MissedMailing).where(MissedMailing.tag_id.in_(ids), MissedMailing.year.in_(years)))}
    sent = set(session.execute(
        select(Offer.tag_id, Offer.year).join(Delivery, Delivery.offer_id == Offer.id)
        .where(Offer.tag_id.in_(ids), Offer.year.in_(years), Delivery.status == DeliveryStatus.SENT).distinct()
    ).all())
    rows = []
    for tag in tags:
        for year in years:
            try:
                send_on, last_day = calendar.mailing_window(tag.rule, tag.lead_days, year)
            except ValueError:
                continue
            offer = offers.get((tag.id, year))
            record = recorded.get((tag.id, year))
            state = mailing_state(today, send_on, last_day, offer, (tag.id, year) in sent, record is not None)
            rows.append(Mailing(tag, year, send_on, last_day, offer, state, audience=record.audience if record else 0,
                                missed_mails=record.mails if record else 0))
    return rows


# ------------------------------------------------------------------ notices


def _recipients(session: Session, *roles: Role) -> list[Advisor]:
    return list(session.scalars(
        select(Advisor).where(Advisor.active.is_(True), Advisor.role.in_(roles)).order_by(Advisor.role, Advisor.id)
    ))


def _board_row(session: Session, settings, tag: Tag, send_on: date, today: date):
    from .board import readiness_board

    rows = readiness_board(session, settings, today, days=0, start=send_on)
    return next((row for row in rows if row.tag.id == tag.id), None)


def _links(settings, tag: Tag, year: int, session: Session) -> dict:
    last_year = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year - 1))
    return {
        "offers_url": f"{settings.public_url}/offers?year={year}",
        "last_year_url": f"{settings.public_url}/offers/{last_year.id}" if last_year else None,
        "calendar_url": f"{settings.public_url}/calendar",
    }


def reminder_context(session: Session, settings, tag: Tag, year: int, send_on: date, today: date, offer) -> dict:
    """The ``mailing_reminder`` mail: the tag, the date, the audience and the advisors' load, the links."""
    row = _board_row(session, settings, tag, send_on, today)
    return {"tag": tag, "year": year, "send_on": send_on, "days": (send_on - today).days, "offer": offer,
            "audience": row.audience if row else 0, "advisors": row.advisors if row else [],
            **_links(settings, tag, year, session)}


def waiting_context(session: Session, settings, tag: Tag, year: int, send_on: date, last_day: date, today: date,
                    offer) -> dict:
    """The ``mailing_waiting`` mail: due since ``send_on``, waits for its offer until ``last_day``."""
    row = _board_row(session, settings, tag, send_on, today)
    return {"tag": tag, "year": year, "send_on": send_on, "last_day": last_day, "offer": offer,
            "audience": row.audience if row else 0, "advisors": row.advisors if row else [],
            **_links(settings, tag, year, session)}


def missed_context(session: Session, settings, record: MissedMailing) -> dict:
    """The ``mailing_missed`` mail: what was missed, for whom, and why."""
    return {"tag": record.tag, "year": record.year, "send_on": record.send_on, "last_day": record.last_day,
            "offer_status": STATE_LABELS.get(record.offer_status, record.offer_status), "audience": record.audience,
            "mails": record.mails, "results_url": f"{settings.public_url}/results/?year={record.year}",
            **_links(settings, record.tag, record.year, session)}


def notice_message(kind: str, context: dict, *, to: Advisor, settings) -> EmailMessage:
    """One notice to one user, from the system itself (noreply)."""
    from . import compose

    subject, text, html = compose.render_kind(kind, context)
    return compose.make_message(settings=settings, from_name=SYSTEM_NAME, from_addr=f"noreply@{settings.mail_domain}",
                                to_name=to.name, to_addr=to.email, subject=subject, text=text, html=html)


def send_notice(session: Session, settings, *, tag_id: int, year: int, notice: str, kind: str, context: dict,
                recipients: list[Advisor]) -> int:
    """Record the notice, then send it; 0 when it was recorded before (it goes once).

    The record and the mails share one transaction: a failed send rolls the record back, so
    a later run tries again; a crash after the relay took it and before the commit may send
    it a second time, never zero times."""
    from . import transport

    session.add(MailingNotice(tag_id=tag_id, year=year, kind=notice, recipients=len(recipients), sent_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return 0
    try:
        with transport.open_transport(settings.mail) as conn:
            for user in recipients:
                conn.send(notice_message(kind, context, to=user, settings=settings))
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return len(recipients)


def _sent_before(session: Session, tag_id: int, year: int, notice: str) -> bool:
    return session.scalar(select(MailingNotice.id).where(
        MailingNotice.tag_id == tag_id, MailingNotice.year == year, MailingNotice.kind == notice)) is not None


def _reminder_step(days_to_go: int) -> int | None:
    """The latest of REMIND_DAYS already reached ``days_to_go`` before the send date (one per step)."""
    reached = [step for step in REMIND_DAYS if 0 < days_to_go <= step]
    return min(reached) if reached else None


def run(session: Session, settings, now: datetime | None = None) -> int:
    """Send every notice due now; returns how many mails went. Idempotent (mailing_notices)."""
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
            if step is not None and not _sent_before(session, tag.id, year, f"before-{step}"):
                sent += send_notice(session, settings, tag_id=tag.id, year=year, notice=f"before-{step}",
                                    kind="mailing_reminder",
                                    context=reminder_context(session, settings, tag, year, send_on, today, offer),
                                    recipients=with_admin if step <= ADMIN_COPY_DAYS else marketing)
            elif morning and send_on <= today <= last_day:
                notice = f"waiting-{today.isoformat()}"
                if not _sent_before(session, tag.id, year, notice):
                    sent += send_notice(session, settings, tag_id=tag.id, year=year, notice=notice, kind="mailing_waiting",
                                        context=waiting_context(session, settings, tag, year, send_on, last_day, today,
                                                                offer),
                                        recipients=marketing)
    told = select(MailingNotice.id).where(MailingNotice.tag_id == MissedMailing.tag_id,
                                          MailingNotice.year == MissedMailing.year, MailingNotice.kind == "missed")
    for record in session.scalars(select(MissedMailing).where(~told.exists()).order_by(MissedMailing.id)).all():
        sent += send_notice(session, settings, tag_id=record.tag_id, year=record.year, notice="missed",
                            kind="mailing_missed", context=missed_context(session, settings, record),
                            recipients=with_admin)
    return sent

