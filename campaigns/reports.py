"""Results for marketing: per offer, per tag and per advisor, one set-based query each.

Planned counts every delivery row of the year's offers (whatever became of it); sent and
failed are final states; human and scanner clicks come from the click verdicts; the click
rate is unique human clickers / sent.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, String, case, cast, func, select
from sqlalchemy.orm import Session, joinedload

from .models import Advisor, Click, Contact, Delivery, DeliveryStatus, MissedMailing, Note, NoteKind, Offer, Tag, Verdict


@dataclass(frozen=True)
class ResultRow:
    key: int
    label: str
    planned: int
    sent: int
    failed: int
    human_clicks: int
    bot_clicks: int
    clickers: int
    unsubscribes: int

    @property
    def click_rate(self) -> float:
        """Unique human clickers per sent mail, 0..1."""
        return self.clickers / self.sent if self.sent else 0.0


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _per_delivery():
    clicks = (
        select(
            Click.delivery_id,
            cast(_count_if(Click.verdict == Verdict.HUMAN), Integer).label("human"),
            cast(_count_if(Click.verdict == Verdict.BOT), Integer).label("bot"),
        )
        .group_by(Click.delivery_id)
        .subquery("click_stats")
    )
    unsubscribes = (
        select(Note.delivery_id)
        .where(Note.kind == NoteKind.UNSUBSCRIBE, Note.delivery_id.is_not(None))
        .group_by(Note.delivery_id)
        .subquery("unsubscribed")
    )
    return clicks, unsubscribes


def _results(session: Session, key, label, year: int | None, *joins) -> list[ResultRow]:
    clicks, unsubscribes = _per_delivery()
    query = (
        select(
            key.label("key"),
            label.label("label"),
            func.count(Delivery.id),
            _count_if(Delivery.status == DeliveryStatus.SENT),
            _count_if(Delivery.status == DeliveryStatus.FAILED),
            func.coalesce(func.sum(clicks.c.human), 0),
            func.coalesce(func.sum(clicks.c.bot), 0),
            func.count(func.distinct(case((clicks.c.human > 0, Delivery.contact_id)))),
            func.count(unsubscribes.c.delivery_id),
        )
        .select_from(Delivery)
        .join(Offer, Offer.id == Delivery.offer_id)
        .join(Tag, Tag.id == Offer.tag_id)
        .outerjoin(clicks, clicks.c.delivery_id == Delivery.id)
        .outerjoin(unsubscribes, unsubscribes.c.delivery_id == Delivery.id)
    )
    for target, onclause in joins:
        query = query.join(target, onclause)
    if year is not None:
        query = query.where(Offer.year == year)
    query = query.group_by(key, label).order_by(label)
    return [ResultRow(*(row[0], row[1]), *(int(v) for v in row[2:])) for row in session.execute(query)]


def by_offer(session: Session, year: int | None) -> list[ResultRow]:
    return _results(session, Offer.id, Tag.name + " " + cast(Offer.year, String), year)


def by_tag(session: Session, year: int | None = None) -> list[ResultRow]:
    """Per tag over the given year, or over all years (None): how a tag does from year to year."""
    return _results(session, Tag.id, Tag.name, year)


def by_advisor(session: Session, year: int | None) -> list[ResultRow]:
    """By the advisor the mail went out from (the owner, for mails not sent yet)."""
    advisor_id = func.coalesce(Delivery.advisor_id, Contact.owner_id)
    return _results(session, Advisor.id, Advisor.name, year,
                    (Contact, Contact.id == Delivery.contact_id), (Advisor, Advisor.id == advisor_id))


def years(session: Session) -> list[int]:
    offered = set(session.scalars(select(Offer.year).distinct()))
    return sorted(offered | set(session.scalars(select(MissedMailing.year).distinct())), reverse=True)


def missed_mailings(session: Session, years: list[int]) -> list[MissedMailing]:
    """The mailings of ``years`` recorded as missed (missed.py), with their tags, newest first."""
    return list(session.scalars(
        select(MissedMailing).options(joinedload(MissedMailing.tag)).where(MissedMailing.year.in_(years))
        .order_by(MissedMailing.send_on.desc(), MissedMailing.id)
    ))
