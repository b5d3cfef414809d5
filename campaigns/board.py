"""The readiness board: for the coming mailings, who gets what, how many, and is the offer ready.

One aggregate query counts the audience of every upcoming tag grouped by owner and name
pair; the greeting check then runs once per distinct (first name, middle name), not per
contact. Marketing reads it to know how many catalogs to prepare; advisors' load shows
how many working days each mailing spreads over under the per-advisor daily cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import aliased

from . import audience as audience_rules
from . import calendar
from .config import Settings
from .db import utcnow
from .greeting import greeting_is_fallback
from .mailings import mailing_state
from .models import Advisor, BoardCount, Contact, Offer, OfferStatus, Tag, contact_tags
from .sender import NO_SENDER_LABEL, sender_of

MAX_WINDOW_DAYS = 121  # lead_days ≤ 120 (models.Tag), CATCH_UP_DAYS = 14
# Up to this many contacts the board counts its audiences on each request (a few milliseconds);
# above it, it reads the counts refresh_counts() keeps in board_counts (10–18 s per count at a
# million contacts, bench/pages_bench.py).
LIVE_LIMIT = 10_000

__all__ = ["LIVE_LIMIT", "AdvisorLoad", "BoardRow", "occurrence_year", "readiness_board", "refresh_counts", "without_sender"]


@dataclass(frozen=True)
class AdvisorLoad:
    advisor_id: int | None  # None: nobody may send (sender.NO_SENDER)
    name: str
    mails: int
    daily_cap: int

    @property
    def per_day(self) -> int:
        return min(self.mails, self.daily_cap)

    @property
    def working_days(self) -> int:
        return math.ceil(self.mails / self.daily_cap) if self.mails else 0


@dataclass
class BoardRow:
    tag: Tag
    send_on: date
    year: int  # the occurrence year: the offer's year
    days_to_go: int
    offer: Offer | None
    last_day: date | None = None  # the last day its mails may go out (calendar.mailing_window)
    audience: int = 0
    fallback: int = 0
    no_consent: int = 0  # would be in the audience but have no recorded consent (REQUIRE_CONSENT)
    advisors: list[AdvisorLoad] = field(default_factory=list)
    counted_at: datetime | None = None  # counted then (board_counts), not now: a big database

    @property
    def status(self) -> str:
        """ "ready", "draft" or "missing" (no offer written yet)."""
        return "missing" if self.offer is None else str(self.offer.status)

    @property
    def state(self) -> str:
        """The mailing's state (mailings.mailing_state): "waiting" once due without a ready offer."""
        today = self.send_on - timedelta(days=self.days_to_go)
        return mailing_state(today, self.send_on, self.last_day or self.send_on, self.offer, sent=False, recorded=False)

    @property
    def ready(self) -> bool:
        return _ready(self.offer)


def _ready(offer: Offer | None) -> bool:
    return offer is not None and offer.status == OfferStatus.READY


def occurrence_year(tag, send_on: date) -> int:
    """The year whose occurrence ``send_on`` belongs to (a long lead can cross New Year)."""
    for year in (send_on.year, send_on.year + 1):
        if calendar.send_date(tag.rule, tag.lead_days, year) == send_on:
            return year
    return send_on.year


def readiness_board(session, settings: Settings, today: date, days: int = 90, start: date | None = None) -> list[BoardRow]:
    """Mailings from ``start`` (default ``today``) for ``days`` days; days_to_go counts from ``today``.

    Mailings already due that still wait for their offer («ждёт предложения», their window still
    open) come first: they are the most urgent."""
    start = start or today
    tags = session.scalars(select(Tag).order_by(Tag.name)).all()
    rows = []
    # A window is at most the longest lead (120 days) long: look back that far for waiting mailings.
    for tag, send_on in calendar.upcoming(tags, start - timedelta(days=MAX_WINDOW_DAYS), days + MAX_WINDOW_DAYS):
        year = occurrence_year(tag, send_on)
        last_day = calendar.mailing_window(tag.rule, tag.lead_days, year)[1]
        if send_on >= start or today <= last_day:
            rows.append(
                BoardRow(tag=tag, send_on=send_on, year=year, days_to_go=(send_on - today).days, offer=None, last_day=last_day)
            )
    if not rows:
        return rows
    tag_ids = {row.tag.id for row in rows}
    years = {row.year for row in rows}
    offers = {
        (offer.tag_id, offer.year): offer
        for offer in session.scalars(select(Offer).where(Offer.tag_id.in_(tag_ids), Offer.year.in_(years)))
    }

    counts = _counts(session, tag_ids)
    audience_size: dict[int, int] = {}
    per_advisor: dict[int, dict[int | None, int]] = {}
    for tag_id, sender_id_, n in counts.by_sender:
        audience_size[tag_id] = audience_size.get(tag_id, 0) + n
        loads = per_advisor.setdefault(tag_id, {})
        loads[sender_id_] = loads.get(sender_id_, 0) + n

    ids = {advisor_id for loads in per_advisor.values() for advisor_id in loads if advisor_id is not None}
    advisors = {a.id: a for a in session.scalars(select(Advisor).where(Advisor.id.in_(ids)))} if ids else {}
    # Due before ``start``: on the board only while waiting for the offer.
    rows = [row for row in rows if row.send_on >= start or not _ready(offers.get((row.tag.id, row.year)))]
    for row in rows:
        row.offer = offers.get((row.tag.id, row.year))
        row.audience = audience_size.get(row.tag.id, 0)
        row.fallback = counts.fallback.get(row.tag.id, 0)
        row.no_consent = counts.no_consent.get(row.tag.id, 0)
        row.counted_at = counts.counted_at
        row.advisors = sorted(
            (_load(advisors.get(advisor_id), mails, settings) for advisor_id, mails in per_advisor.get(row.tag.id, {}).items()),
            key=lambda load: (-load.mails, load.name),
        )
    return rows


@dataclass
class _Counts:
    by_sender: list  # (tag id, sender id or None, mails)
    fallback: dict[int, int]  # tag id → «Здравствуйте!!» greetings
    no_consent: dict[int, int]  # tag id → left out for want of a consent
    counted_at: datetime | None = None  # None: counted now


def _counts(session, tag_ids) -> _Counts:
    """Live on a small database; above LIVE_LIMIT contacts the last refresh_counts(), if any."""
    contacts = select(Contact.id).limit(LIVE_LIMIT + 1).subquery()
    if session.scalar(select(func.count()).select_from(contacts)) > LIVE_LIMIT:
        stored = _stored_counts(session, tag_ids)
        if stored is not None:
            return stored
    return _count(session, tag_ids)


def _count(session, tag_ids) -> _Counts:
    """Each tag's audience (audience.may_be_mailed) per sender, its fallback greetings and, under
    REQUIRE_CONSENT, who would be in it but for a missing consent."""
    no_consent: dict[int, int] = {}
    if audience_rules.require_consent():
        no_consent = dict(
            session.execute(
                select(contact_tags.c.tag_id, func.count())
                .select_from(contact_tags)
                .join(Contact, Contact.id == contact_tags.c.contact_id)
                .where(
                    contact_tags.c.tag_id.in_(tag_ids),
                    audience_rules.may_be_mailed(consent=False),
                    audience_rules.lacks_consent(),
                )
                .group_by(contact_tags.c.tag_id)
            ).all()
        )
    by_sender, by_name = _audience_counts(session, tag_ids)
    fallback_cache: dict[tuple[str, str], bool] = {}
    fallback: dict[int, int] = {}
    for tag_id, first_name, middle_name, n in by_name:
        pair = (first_name or "", middle_name or "")
        if pair not in fallback_cache:
            fallback_cache[pair] = greeting_is_fallback(*pair)
        if fallback_cache[pair]:
            fallback[tag_id] = fallback.get(tag_id, 0) + n
    return _Counts(by_sender=[tuple(row) for row in by_sender], fallback=fallback, no_consent=no_consent)


def refresh_counts(session) -> int:
    """Count every tag's audience now and keep it in board_counts for the board of a big database
    (the scheduler, every 10 minutes). The caller commits. Returns the number of rows kept."""
    counts = _count(session, session.scalars(select(Tag.id)).all())
    now = utcnow()
    rows = [{"kind": "counted", "tag_id": None, "sender_id": None, "n": 0, "counted_at": now}]
    rows += [{"kind": "sender", "tag_id": t, "sender_id": s, "n": n, "counted_at": now} for t, s, n in counts.by_sender]
    for kind, per_tag in (("fallback", counts.fallback), ("no_consent", counts.no_consent)):
        rows += [{"kind": kind, "tag_id": t, "sender_id": None, "n": n, "counted_at": now} for t, n in per_tag.items()]
    session.execute(delete(BoardCount))
    session.execute(insert(BoardCount), rows)
    return len(rows)


def _stored_counts(session, tag_ids) -> _Counts | None:
    """What the last refresh_counts() kept; None when it never ran."""
    stored = session.execute(
        select(BoardCount.kind, BoardCount.tag_id, BoardCount.sender_id, BoardCount.n, BoardCount.counted_at).where(
            (BoardCount.tag_id.in_(tag_ids)) | (BoardCount.kind == "counted")
        )
    ).all()
    counted = [row.counted_at for row in stored if row.kind == "counted"]
    if not counted:
        return None
    counts = _Counts(by_sender=[], fallback={}, no_consent={}, counted_at=max(counted))
    for row in stored:
        if row.kind == "sender":
            counts.by_sender.append((row.tag_id, row.sender_id, row.n))
        elif row.kind in ("fallback", "no_consent"):
            getattr(counts, row.kind)[row.tag_id] = row.n
    return counts


def _audience_counts(session, tag_ids) -> tuple[list, list]:
    """The audience of each tag counted twice over, in one pass over it: per sender (the load) and
    per (first name, middle name) (the greeting check runs once per distinct pair, in Python).

    PostgreSQL: one statement with GROUPING SETS, so the groups are tags × senders plus tags ×
    name pairs, not their product (348,000 groups spilled to disk at a million contacts).
    SQLite has no GROUPING SETS: two statements."""
    owner = aliased(Advisor)
    sender = sender_of(owner).label("sender_id")
    tag = contact_tags.c.tag_id
    audience = (
        select()
        .select_from(contact_tags)
        .join(Contact, Contact.id == contact_tags.c.contact_id)
        .join(owner, owner.id == Contact.owner_id)
        .where(tag.in_(tag_ids), audience_rules.may_be_mailed())
    )
    if session.bind.dialect.name != "postgresql":
        by_sender = session.execute(audience.add_columns(tag, sender, func.count()).group_by(tag, sender)).all()
        by_name = session.execute(
            audience.add_columns(tag, Contact.first_name, Contact.middle_name, func.count()).group_by(
                tag, Contact.first_name, Contact.middle_name
            )
        ).all()
        return by_sender, by_name
    rows = session.execute(
        audience.add_columns(
            tag,
            sender,
            Contact.first_name,
            Contact.middle_name,
            func.count(),
            func.grouping(Contact.first_name).label("by_sender"),
        ).group_by(func.grouping_sets(tuple_(tag, sender), tuple_(tag, Contact.first_name, Contact.middle_name)))
    ).all()
    return (
        [(t, s, n) for t, s, _f, _m, n, by_sender in rows if by_sender],
        [(t, f, m, n) for t, _s, f, m, n, by_sender in rows if not by_sender],
    )


def _load(advisor: Advisor | None, mails: int, settings: Settings) -> AdvisorLoad:
    if advisor is None:  # no active owner and no house advisor: these mails are held (sender.NO_SENDER)
        return AdvisorLoad(advisor_id=None, name=NO_SENDER_LABEL, mails=mails, daily_cap=settings.daily_cap)
    return AdvisorLoad(advisor_id=advisor.id, name=advisor.name, mails=mails, daily_cap=advisor.daily_cap or settings.daily_cap)


def without_sender(rows: list[BoardRow]) -> int:
    """Mails on the board that fall back on the house advisor while there is none (sender.NO_SENDER):
    the board's red line names them."""
    return sum(load.mails for row in rows for load in row.advisors if load.advisor_id is None)
