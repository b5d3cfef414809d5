"""Results for marketing: per offer, per tag and per advisor, read from result_counts.

Planned counts every delivery row of the year's offers (whatever became of it); sent and
failed are final states; human and scanner clicks come from the click verdicts; clickers are
the mails with at least one human click, and the click rate is clickers / sent. The database
keeps these counts per offer × advisor as deliveries, clicks and notes are written (migration
0018's triggers), so a page reads a few hundred rows however many clicks there are. Each link
carries its own counts the same way (migration 0021): by_link reads them for the per-link table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, cast, func, select, text
from sqlalchemy.orm import Session, joinedload

from .models import Advisor, Link, MissedMailing, Offer, ResultCount, Tag

COUNTS = ("planned", "sent", "failed", "human_clicks", "bot_clicks", "clickers", "unsubscribes")


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
        """Mails with a human click per sent mail, 0..1."""
        return self.clickers / self.sent if self.sent else 0.0


def _results(session: Session, key, label, year: int | None, *joins) -> list[ResultRow]:
    query = (
        select(key.label("key"), label.label("label"), *(func.coalesce(func.sum(getattr(ResultCount, c)), 0) for c in COUNTS))
        .select_from(ResultCount)
        .join(Offer, Offer.id == ResultCount.offer_id)
        .join(Tag, Tag.id == Offer.tag_id)
    )
    for target, onclause in joins:
        query = query.join(target, onclause)
    if year is not None:
        query = query.where(Offer.year == year)
    query = query.group_by(key, label).order_by(label)
    return [ResultRow(row[0], row[1], *(int(v) for v in row[2:])) for row in session.execute(query)]


def by_offer(session: Session, year: int | None) -> list[ResultRow]:
    return _results(session, Offer.id, Tag.name + " " + cast(Offer.year, String), year)


def by_tag(session: Session, year: int | None = None) -> list[ResultRow]:
    """Per tag over the given year, or over all years (None): how a tag does from year to year."""
    return _results(session, Tag.id, Tag.name, year)


def by_advisor(session: Session, year: int | None) -> list[ResultRow]:
    """By the advisor the mail went out from (the owner, for mails not sent yet)."""
    return _results(session, Advisor.id, Advisor.name, year, (Advisor, Advisor.id == ResultCount.advisor_id))


@dataclass(frozen=True)
class LinkRow:
    """One link of an offer: its label, human clicks, the contacts who clicked it, scanners' clicks."""

    label: str
    human_clicks: int
    clickers: int
    bot_clicks: int


def by_link(session: Session, offer_ids: list[int]) -> dict[int, list[LinkRow]]:
    """Each offer's links (the hidden trap aside) with their counts, in the offer's order."""
    rows: dict[int, list[LinkRow]] = {offer_id: [] for offer_id in offer_ids}
    if not offer_ids:
        return rows
    query = (
        select(Link.offer_id, Link.label, Link.name, Link.human_clicks, Link.clickers, Link.bot_clicks)
        .where(Link.offer_id.in_(offer_ids), Link.is_trap.is_(False))
        .order_by(Link.offer_id, Link.id)
    )
    for row in session.execute(query):
        rows[row.offer_id].append(LinkRow(row.label or row.name, row.human_clicks, row.clickers, row.bot_clicks))
    return rows


RECOUNT = f"""
INSERT INTO result_counts (offer_id, advisor_id, {", ".join(COUNTS)})
SELECT d.offer_id, coalesce(d.advisor_id, c.owner_id), count(*),
       sum(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), sum(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END),
       coalesce(sum(k.human), 0), coalesce(sum(k.bot), 0), sum(CASE WHEN k.human > 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN u.delivery_id IS NOT NULL THEN 1 ELSE 0 END)
FROM deliveries d
JOIN contacts c ON c.id = d.contact_id
LEFT JOIN (SELECT delivery_id, sum(CASE WHEN verdict = 'human' THEN 1 ELSE 0 END) AS human,
                  sum(CASE WHEN verdict = 'bot' THEN 1 ELSE 0 END) AS bot
           FROM clicks GROUP BY delivery_id) k ON k.delivery_id = d.id
LEFT JOIN (SELECT DISTINCT delivery_id FROM notes WHERE kind = 'unsubscribe' AND delivery_id IS NOT NULL) u
       ON u.delivery_id = d.id
GROUP BY d.offer_id, coalesce(d.advisor_id, c.owner_id)
"""


LINK_RECOUNT = """
UPDATE links SET human_clicks = s.human, bot_clicks = s.bot, clickers = s.clickers
FROM (SELECT link_id, sum(CASE WHEN verdict = 'human' THEN 1 ELSE 0 END) AS human,
             sum(CASE WHEN verdict = 'bot' THEN 1 ELSE 0 END) AS bot,
             count(DISTINCT CASE WHEN verdict = 'human' THEN contact_id END) AS clickers
      FROM clicks WHERE link_id IS NOT NULL GROUP BY link_id) s
WHERE links.id = s.link_id
"""


def recount(session: Session) -> None:
    """Rebuild result_counts and the links' counts from the deliveries, clicks and notes themselves
    (a repair; it reads every click)."""
    session.execute(text("DELETE FROM result_counts"))
    session.execute(text(RECOUNT))
    session.execute(text("UPDATE links SET human_clicks = 0, bot_clicks = 0, clickers = 0"))
    session.execute(text(LINK_RECOUNT))


def years(session: Session) -> list[int]:
    offered = set(session.scalars(select(Offer.year).distinct()))
    return sorted(offered | set(session.scalars(select(MissedMailing.year).distinct())), reverse=True)


def missed_mailings(session: Session, years: list[int]) -> list[MissedMailing]:
    """The mailings of ``years`` recorded as missed (missed.py), with their tags, newest first."""
    return list(
        session.scalars(
            select(MissedMailing)
            .options(joinedload(MissedMailing.tag))
            .where(MissedMailing.year.in_(years))
            .order_by(MissedMailing.send_on.desc(), MissedMailing.id)
        )
    )
