"""«Начать с прошлогоднего»: a tag's new offer starts from its latest earlier one (subject, text, links).

offers.offer_for does it when it creates the offer; `start_from_earlier` does it for a draft that is
still blank (made before there was an earlier offer to copy, or emptied), on marketing's request.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .models import Link, Offer, OfferStatus

__all__ = ["earlier_offer", "earlier_years", "is_blank", "start_from_earlier"]


def earlier_offer(session: Session, tag_id: int, year: int) -> Offer | None:
    """The tag's latest offer before `year`, or None."""
    return session.scalar(
        select(Offer)
        .options(selectinload(Offer.links))
        .where(Offer.tag_id == tag_id, Offer.year < year)
        .order_by(Offer.year.desc())
        .limit(1)
    )


def earlier_years(session: Session, year: int) -> dict[int, int]:
    """tag id → the year of its latest offer before `year` (tags that had one)."""
    return dict(session.execute(select(Offer.tag_id, func.max(Offer.year)).where(Offer.year < year).group_by(Offer.tag_id)).all())


def is_blank(offer: Offer) -> bool:
    return (
        not (offer.subject or "").strip()
        and not (offer.body or "").strip()
        and not [link for link in offer.links if not link.is_trap]
    )


def start_from_earlier(session: Session, offer: Offer) -> Offer | None:
    """Copy the latest earlier offer into this blank draft; the earlier offer, or None when there is none
    (or the draft is not blank: nothing typed is ever overwritten)."""
    if offer.status != OfferStatus.DRAFT or not is_blank(offer):
        return None
    earlier = earlier_offer(session, offer.tag_id, offer.year)
    if earlier is None:
        return None
    offer.subject, offer.body = earlier.subject, earlier.body
    offer.links = [link for link in offer.links if link.is_trap] + [
        Link(name=link.name, url=link.url, label=link.label, weight=link.weight) for link in earlier.links if not link.is_trap
    ]
    session.flush()
    return earlier
