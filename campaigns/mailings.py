"""A yearly mailing (one tag, one year) and its state: ready, draft, missing, waiting, sent, missed.

`mailing_state()` is the one place that names a mailing's state, for the calendar page, the
board and the notices (reminders.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import calendar
from .models import MissedMailing, Offer, OfferStatus, ResultCount, Tag

STATE_LABELS = {
    "ready": "готово",
    "draft": "черновик",
    "missing": "нет предложения",
    "waiting": "ждёт предложения",
    "sent": "отправлено",
    "missed": "пропущено",
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


def mailings(session: Session, today: date, years: list[int], tags: Sequence[Tag] | None = None) -> list[Mailing]:
    """Every tag's mailing for each of ``years``, with its state on ``today`` (the calendar page)."""
    tags = tags if tags is not None else session.scalars(select(Tag).order_by(Tag.name)).all()
    ids = [tag.id for tag in tags]
    offers = {(o.tag_id, o.year): o for o in session.scalars(select(Offer).where(Offer.tag_id.in_(ids), Offer.year.in_(years)))}
    recorded = {
        (m.tag_id, m.year): m
        for m in session.scalars(select(MissedMailing).where(MissedMailing.tag_id.in_(ids), MissedMailing.year.in_(years)))
    }
    # From the kept counts (reports.py), not a walk over every sent delivery of those offers.
    sent = set(
        session.execute(
            select(Offer.tag_id, Offer.year)
            .join(ResultCount, ResultCount.offer_id == Offer.id)
            .where(Offer.tag_id.in_(ids), Offer.year.in_(years), ResultCount.sent > 0)
            .distinct()
        ).all()
    )
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
            rows.append(Mailing(tag, year, send_on, last_day, offer, state, audience=record.audience if record else 0))
    return rows
