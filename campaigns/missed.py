"""Missed mail: nothing goes out after its mailing's last day, and nothing is missed in silence.

A mailing's window runs from its send date to its last day (calendar.mailing_window). Mail
still waiting when the window has closed (held for a draft or for a sender, rolled over the
daily cap, pushed by spacing) is not sent late: the delivery is cancelled with the reason
«пропущено…», a note on the contact says so, and the mailing (tag × year) is recorded in
`missed_mailings`, which the board, the calendar and the results show and from which
marketing and admin are told once (reminders.py). A mailing that never had a ready offer
is recorded there too, with no mails.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from . import audience, calendar
from .db import utcnow
from .models import Delivery, DeliveryStatus, MissedMailing, Note, NoteKind, Offer, OfferStatus, Tag

__all__ = ["MISSED_REASON", "PENDING", "is_missed", "last_days", "mark_missed", "miss_overdue", "record_closed", "record_missed"]

MISSED_REASON = "пропущено"  # the start of last_error of a delivery cancelled as missed
# Deliveries that may still go out.
PENDING = (DeliveryStatus.PLANNED, DeliveryStatus.HELD, DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)


def is_missed():
    """SQL over Delivery: cancelled because its mailing's window closed."""
    return and_(Delivery.status == DeliveryStatus.CANCELLED, Delivery.last_error.like(f"{MISSED_REASON}%"))


def last_days(session: Session, offer_ids) -> dict[int, date]:
    """offer id → the last day its mails may go out."""
    ids = set(offer_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Offer.id, Offer.year, Tag.rule, Tag.lead_days).join(Tag, Tag.id == Offer.tag_id).where(Offer.id.in_(ids))
    ).all()
    days = {}
    for offer_id, year, rule, lead_days in rows:
        try:
            days[offer_id] = calendar.mailing_window(rule, lead_days, year)[1]
        except ValueError:
            continue  # a broken rule: its mails wait for marketing to fix the tag
    return days


def mark_missed(session: Session, offer_id: int, delivery_ids=None) -> int:
    """Cancel the offer's pending mails (or only ``delivery_ids``) as missed, with a note each."""
    offer = session.get_one(Offer, offer_id)
    start, last = calendar.mailing_window(offer.tag.rule, offer.tag.lead_days, offer.year)
    reason = f"{MISSED_REASON}: срок рассылки закончился {last:%d.%m.%Y}"
    where = [Delivery.offer_id == offer_id, Delivery.status.in_(PENDING)]
    if delivery_ids is not None:
        where.append(Delivery.id.in_(list(delivery_ids)))
    now = utcnow()
    gone = session.execute(
        update(Delivery)
        .where(*where)
        .values(status=DeliveryStatus.CANCELLED, send_at=None, last_error=reason, updated_at=now)
        .returning(Delivery.id, Delivery.contact_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not gone:
        return 0
    body = (
        f"Письмо рассылки «{offer.tag.name} {offer.year}» пропущено: срок рассылки закончился "
        f"{last:%d.%m.%Y}, а письмо к этому дню не ушло. Поздно отправлять его не будем."
    )
    session.execute(
        insert(Note),
        [
            {"contact_id": contact_id, "delivery_id": delivery_id, "kind": NoteKind.SYSTEM, "body": body, "created_at": now}
            for delivery_id, contact_id in gone
        ],
    )
    record_missed(session, offer.tag, offer.year, offer, mails=len(gone))
    return len(gone)


def miss_overdue(session: Session, day: date) -> int:
    """Every pending mail whose mailing's last day is before ``day`` becomes missed."""
    offer_ids = session.scalars(select(Delivery.offer_id).where(Delivery.status.in_(PENDING)).distinct()).all()
    return sum(mark_missed(session, offer_id) for offer_id, last in last_days(session, offer_ids).items() if last < day)


def record_missed(
    session: Session, tag: Tag, year: int, offer: Offer | None, mails: int = 0, size: int | None = None
) -> MissedMailing:
    """The mailing's row in missed_mailings (created once; ``mails`` adds up). ``size``: the tag's
    audience when the caller has counted it already."""
    row = session.scalar(select(MissedMailing).where(MissedMailing.tag_id == tag.id, MissedMailing.year == year))
    if row is None:
        start, last = calendar.mailing_window(tag.rule, tag.lead_days, year)
        if size is None:
            size = session.scalar(select(func.count()).select_from(audience.tag_audience(tag.id).subquery())) or 0
        row = MissedMailing(
            tag_id=tag.id,
            year=year,
            send_on=start,
            last_day=last,
            offer_id=offer.id if offer else None,
            offer_status=str(offer.status) if offer else "missing",
            audience=size,
            mails=0,
            recorded_at=utcnow(),
        )
        session.add(row)
    row.mails += mails
    session.flush()
    return row


def record_closed(session: Session, day: date) -> int:
    """Record every mailing whose window closed before ``day`` without a ready offer (once).

    Only windows that closed after the tag was created count: a tag added today has not
    missed last year's mailing."""
    years = (day.year - 1, day.year)
    ready = set(
        session.execute(select(Offer.tag_id, Offer.year).where(Offer.year.in_(years), Offer.status == OfferStatus.READY)).all()
    )
    recorded = set(session.execute(select(MissedMailing.tag_id, MissedMailing.year).where(MissedMailing.year.in_(years))).all())
    closed: list[tuple[Tag, int]] = []
    for tag in session.scalars(select(Tag).order_by(Tag.id)):
        for year in years:
            if (tag.id, year) in ready or (tag.id, year) in recorded:
                continue
            try:
                last_day = calendar.mailing_window(tag.rule, tag.lead_days, year)[1]
            except ValueError:
                break
            if tag.created_at.date() <= last_day < day:
                closed.append((tag, year))
    # All their audiences in one statement, each contact judged once (a first run records a whole
    # year of closed mailings: 38 statements of 2.5 s each at a million contacts).
    tag_ids = {tag.id for tag, _year in closed}
    sizes: dict[int, int] = {tag_id: n for tag_id, n in session.execute(audience.tag_audience_counts(tag_ids))} if closed else {}
    for tag, year in closed:
        offer = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year))
        record_missed(session, tag, year, offer, size=sizes.get(tag.id, 0))
    return len(closed)
