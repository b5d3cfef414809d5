"""The queue, for people: counts and lists per status, and a person's decisions on a delivery
(«Отправить повторно», «Считать отправленным»)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from . import missed
from .config import Settings
from .db import utcnow
from .models import Advisor, Delivery, DeliveryStatus, Offer, Tag
from .sender import NO_SENDER, NO_SENDER_LABEL, sender_ids
from .sending import note

POLICY_PATTERN = "5__ 5.7.%"  # how a policy block (5.7.x) reads in last_error


def _decide(session, delivery_id: int, user, from_statuses, values: dict, body: str) -> bool:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(from_statuses))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        note(
            session,
            delivery,
            body.format(subject=delivery.offer.subject, who=user.name if user else "система"),
            author_id=user.id if user else None,
        )
    session.commit()
    session.refresh(delivery)
    return bool(moved)


def retry(session: Session, delivery_id: int, user, now: datetime | None = None) -> bool:
    """A failed (or unknown) delivery goes out again now; the note says who decided."""
    now = now or utcnow()
    return _decide(
        session,
        delivery_id,
        user,
        (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN),
        {
            "status": DeliveryStatus.PLANNED,
            "send_at": now,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
        },
        "Письмо «{subject}» отправляется повторно ({who}).",
    )


def mark_sent(session: Session, delivery_id: int, user) -> bool:
    """An UNKNOWN delivery is taken as sent (a person checked the relay's log or the client)."""
    return _decide(
        session,
        delivery_id,
        user,
        (DeliveryStatus.UNKNOWN,),
        {
            "status": DeliveryStatus.SENT,
            "sent_at": Delivery.claimed_at,
            "last_error": None,
        },
        "Письмо «{subject}» считается отправленным ({who}).",
    )


# ------------------------------------------------------------------ the queue, for people


@dataclass
class QueueView:
    counts: dict
    lists: dict  # status name → rows (Delivery objects, contact/offer/advisor loaded)
    held_offers: Sequence  # (offer, tag name, waiting count)
    policy_blocks: Sequence
    senders: dict  # contact id → who its pending mail goes out from now (name)


def queue_view(session: Session, settings: Settings, now: datetime | None = None, limit: int = 50) -> QueueView:
    """Counts per status and the newest rows of each list the queue page and `flask campaigns queue` show."""

    now = now or utcnow()
    counts = {status.value: 0 for status in DeliveryStatus if status != DeliveryStatus.SENT}
    # Every status but SENT (all the mails of all years; the page shows those of today, below):
    # index ranges of the statuses still in play, not a count of every delivery ever made.
    counts.update(
        {
            status.value if hasattr(status, "value") else status: n
            for status, n in session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.status.in_([s for s in DeliveryStatus if s != DeliveryStatus.SENT]))
                .group_by(Delivery.status)
            )
        }
    )
    local = now.astimezone(settings.timezone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    counts["sent_today"] = (
        session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= day_start)) or 0
    )

    def rows(*where, order):
        return session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.contact), joinedload(Delivery.offer).joinedload(Offer.tag), joinedload(Delivery.advisor))
            .where(*where)
            .order_by(*order)
            .limit(limit)
        ).all()

    lists = {
        "planned": rows(Delivery.status == DeliveryStatus.PLANNED, order=(Delivery.send_on, Delivery.send_at, Delivery.id)),
        "queued": rows(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)), order=(Delivery.updated_at,)),
        "retrying": rows(Delivery.status == DeliveryStatus.RETRYING, order=(Delivery.next_attempt_at,)),
        "unknown": rows(Delivery.status == DeliveryStatus.UNKNOWN, order=(Delivery.claimed_at.desc(),)),
        "failed": rows(Delivery.status == DeliveryStatus.FAILED, order=(Delivery.updated_at.desc(),)),
        "sent_today": rows(
            Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= day_start, order=(Delivery.sent_at.desc(),)
        ),
        "no_sender": rows(
            Delivery.status == DeliveryStatus.HELD, Delivery.last_error == NO_SENDER, order=(Delivery.send_on, Delivery.id)
        ),
        "missed": rows(missed.is_missed(), order=(Delivery.updated_at.desc(),)),
    }
    counts["missed"] = session.scalar(select(func.count()).where(missed.is_missed())) or 0
    held = session.execute(
        select(Offer, Tag.name, func.count(Delivery.id))
        .join(Delivery, Delivery.offer_id == Offer.id)
        .join(Tag, Tag.id == Offer.tag_id)
        .where(Delivery.status == DeliveryStatus.HELD)
        .group_by(Offer.id, Tag.name)
        .order_by(Tag.name)
    ).all()
    policy = rows(
        Delivery.status == DeliveryStatus.FAILED, Delivery.last_error.like(POLICY_PATTERN), order=(Delivery.updated_at.desc(),)
    )
    # Whoever sends now (an advisor deactivated since pacing is replaced by the heir or the house advisor).
    pending = [d.contact_id for name in ("planned", "queued", "retrying", "no_sender") for d in lists[name]]
    ids = sender_ids(session, pending)
    names: dict[int | None, str] = dict(
        session.execute(select(Advisor.id, Advisor.name).where(Advisor.id.in_(set(ids.values()) - {None}))).all()
    )
    senders = {contact_id: names.get(advisor_id, NO_SENDER_LABEL) for contact_id, advisor_id in ids.items()}
    return QueueView(counts=counts, lists=lists, held_offers=held, policy_blocks=policy, senders=senders)
