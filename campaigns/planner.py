"""Set-based planning: which contacts get which offer, on which working day.

For every tag whose send date (calendar.send_date) has come, one INSERT … SELECT
puts one delivery per eligible contact into `deliveries`; the UNIQUE (offer_id,
contact_id) constraint with ON CONFLICT DO NOTHING makes planning idempotent, so the
scheduler can run it every few minutes and catch up after downtime.

Catch-up is bounded by the mailing's window (calendar.mailing_window): from its send date
to its last day (the occasion, at least CATCH_UP_DAYS after the send date). Nothing goes
out after the last day, whatever happened before: mails still waiting then (held for a
draft, rolled over the cap, pushed by spacing) become MISSED with a note on the contact,
and the mailing is recorded in `missed_mailings`, never sent late and never silent.

An offer still in draft on its send date does not skip the contacts: their deliveries
are planned as HELD and released (HELD → PLANNED) by the first run after marketing
marks the offer ready.

Functions here flush but never commit: the job or the command that calls them does.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Row,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from . import audience, calendar, missed, offers, spacing
from .config import Settings
from .db import UTCDateTime, utcnow
from .models import (
    Advisor,
    Contact,
    Delivery,
    DeliveryStatus,
    Offer,
    OfferStatus,
    Tag,
    contact_tags,
)
from .sender import NO_SENDER, NO_SENDER_LABEL, sender_of

log = logging.getLogger(__name__)


@dataclass
class TagPlan:
    tag: str
    offer_id: int
    send_date: date
    status: DeliveryStatus  # PLANNED for a ready offer, HELD for a draft
    added: int


@dataclass
class AdvisorDay:
    """What one advisor sends on one day (the dry-run view)."""

    advisor_id: int | None
    name: str
    going: int  # goes out that day
    rolled: int  # over the daily cap: moves to the next working day
    held: int  # waits for marketing (offer in draft)
    cap: int


@dataclass
class PlanResult:
    day: date
    dry_run: bool = False
    tags: list[TagPlan] = field(default_factory=list)
    planned: int = 0
    held: int = 0
    released: int = 0
    missed: int = 0  # pending mails whose window closed (missed.py)
    spaced: int = 0
    advisors: list[AdvisorDay] = field(default_factory=list)

    def summary(self) -> str:
        if self.dry_run:
            going = sum(a.going for a in self.advisors)
            return f"{self.day.isoformat()}: would send {going}"
        return (
            f"{self.day.isoformat()}: planned {self.planned}, held {self.held}, released {self.released}, "
            f"spaced {self.spaced}, missed {self.missed}"
        )


def due_mailings(session: Session, day: date) -> list[tuple[Tag, Offer | None, date]]:
    """(tag, its offer for the occurrence year or None, send date) for every mailing due on `day`."""
    due = []
    for tag in session.scalars(select(Tag).order_by(Tag.id)):
        # A long lead puts January occasions into December of the year before.
        for year in (day.year - 1, day.year, day.year + 1):
            try:
                when, until = calendar.mailing_window(tag.rule, tag.lead_days, year)
            except ValueError:
                break  # a broken rule is shown on the tag page; it must not stop the others
            if when <= day <= until:
                offer = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year))
                due.append((tag, offer, when))
    due.sort(key=lambda row: (row[2], row[0].id))
    return due


def _insert(session: Session):
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(Delivery.__table__)  # type: ignore[arg-type]  # a Table


def plan_day(session: Session, day: date, settings: Settings, dry_run: bool = False) -> PlanResult:
    """Plan every mailing due on `day`. Running it twice plans once."""
    result = PlanResult(day=day, dry_run=dry_run)
    due = [(tag, offer, when) for tag, offer, when in due_mailings(session, day) if offer is not None]
    if dry_run:
        result.advisors = _dry_run(session, day, settings, due)
        return result

    result.missed = missed.miss_overdue(session, day)
    missed.record_closed(session, day)
    result.released = release_held(session, day)
    now = utcnow()
    unplanned = {offer.id: _unplanned(session, tag.id, offer.id) for tag, offer, _when in due}
    # A contact with another mail too close gets the new one on the day the spacing gives it: inserted
    # there, not moved there by an UPDATE afterwards. Only the contacts it leaves over are spaced after.
    new = [(offer.id, _new_contacts(session, tag.id, offer.id, unplanned[offer.id])) for tag, offer, _when in due]
    spaced, to_space = spacing.days_for_new(session, day, settings.tag_spacing_days, [(o, ids) for o, ids in new if ids])
    known = {contact_id for _offer_id, ids in new for contact_id in ids}
    for tag, offer, when in due:
        status = DeliveryStatus.PLANNED if offer.status == OfferStatus.READY else DeliveryStatus.HELD
        # Without anyone to send it (no active owner, no house advisor) a mail is held, with the reason.
        ids = unplanned[offer.id]
        if ids is not None and not ids:
            result.tags.append(TagPlan(tag.name, offer.id, when, status, 0))
            continue
        among = (
            unplanned_condition(tag.id, offer.id)
            if ids is None
            else Contact.id == any_(bindparam("unplanned", ids, type_=postgresql.ARRAY(Integer)))
        )
        later = spaced.get(offer.id, {})
        rows = _plan(session, tag.id, offer.id, status, day, later, now, among)
        result.spaced += sum(1 for row in rows if row.send_on != day)
        statuses = [(row.contact_id, row.status) for row in rows]
        to_space.update(contact_id for contact_id, _status in statuses if contact_id not in known)  # added meanwhile
        added = len(statuses)
        result.tags.append(TagPlan(tag.name, offer.id, when, status, added))
        held = sum(1 for _contact_id, s in statuses if s in (DeliveryStatus.HELD, DeliveryStatus.HELD.value))
        result.planned += added - held
        result.held += held
        if status == DeliveryStatus.HELD and added:
            _notify_late(session, offer, settings)
    if result.planned + result.held >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # The spacing statement joins deliveries to itself: planned on statistics from before
        # 325,000 new rows, it took minutes (a nested loop); fresh ones (a 30,000-row sample) take
        # a fraction of a second. Rows this transaction wrote count in ANALYZE's sample.
        session.execute(text("ANALYZE deliveries"))
    result.spaced += spacing.space_changed(session, day, settings.tag_spacing_days, to_space)
    session.flush()
    return result


def _plan(
    session: Session, tag_id: int, offer_id: int, status: DeliveryStatus, day: date, later: dict[int, date], now, among
) -> Sequence[Row]:
    """INSERT … SELECT the offer's mail for the tag's audience narrowed by ``among`` (SQL over Contact),
    on ``day`` or, for a contact in ``later`` (contact id → day), on that day. (contact id, status,
    send_on) of each mail it added; a contact with a mail for the offer already gets none (the unique
    pair, ON CONFLICT DO NOTHING)."""
    owner = aliased(Advisor)
    nobody = sender_of(owner).is_(None)
    send_on: ColumnElement[date] = literal(day, Date)
    rows = audience.tag_audience(tag_id).where(among).join(owner, owner.id == Contact.owner_id)
    if later:
        spaced = _contact_days(session, later)
        rows = rows.outerjoin(spaced, spaced.c.contact_id == Contact.id)
        send_on = func.coalesce(spaced.c.day, send_on, type_=Date)
    rows = rows.add_columns(
        literal(offer_id),
        case((nobody, DeliveryStatus.HELD.value), else_=literal(status.value, String)),
        case((nobody, NO_SENDER), else_=None),
        send_on,
        literal(0),
        literal(now, UTCDateTime),
        literal(now, UTCDateTime),
    )
    table = Delivery.__table__
    stmt = (
        _insert(session)
        .from_select(["contact_id", "offer_id", "status", "last_error", "send_on", "attempts", "created_at", "updated_at"], rows)
        .on_conflict_do_nothing(index_elements=["offer_id", "contact_id"])
        .returning(table.c.contact_id, table.c.status, table.c.send_on)
    )
    # RETURNING, not rowcount: psycopg reports -1 for INSERT … SELECT … ON CONFLICT.
    return session.execute(stmt).all()


def _contact_days(session: Session, days: dict[int, date]):
    """SQL: a FROM of the pairs (contact_id, day) in ``days``, as one parameter (PostgreSQL: two arrays
    unnested; SQLite: a JSON array read by json_each), however many there are."""
    if session.get_bind().dialect.name == "postgresql":
        return select(
            func.unnest(bindparam("spaced_ids", list(days), type_=postgresql.ARRAY(Integer)), type_=Integer).label("contact_id"),
            func.unnest(bindparam("spaced_days", list(days.values()), type_=postgresql.ARRAY(Date)), type_=Date).label("day"),
        ).subquery("spaced")
    pairs = func.json_each(bindparam("spaced", json.dumps([[i, d.isoformat()] for i, d in days.items()]))).table_valued("value")
    return select(
        func.json_extract(pairs.c.value, "$[0]", type_=Integer).label("contact_id"),
        func.json_extract(pairs.c.value, "$[1]", type_=Date).label("day"),
    ).subquery("spaced")


ANALYZE_AFTER = 10_000  # new mails after which the planner refreshes deliveries' statistics (PostgreSQL)


def unplanned_condition(tag_id: int, offer_id: int):
    """SQL over contact_tags: the offer has no mail for this contact yet."""
    return ~exists().where(Delivery.offer_id == offer_id, Delivery.contact_id == contact_tags.c.contact_id)


def _new_contacts(session: Session, tag_id: int, offer_id: int, ids: list[int] | None) -> list[int]:
    """The ids of the tag's contacts the offer has no mail for yet: ``ids`` (_unplanned's list on
    PostgreSQL) or, on SQLite, read."""
    if ids is not None:
        return ids
    return list(
        session.scalars(
            select(contact_tags.c.contact_id).where(contact_tags.c.tag_id == tag_id, unplanned_condition(tag_id, offer_id))
        )
    )


def _unplanned(session: Session, tag_id: int, offer_id: int) -> list[int] | None:
    """PostgreSQL: the ids of the tag's contacts the offer has no mail for yet, from two index ranges,
    so that only their rows are read and checked (a repeat run every 10 minutes finds few or none,
    instead of reading the whole audience: 325,000 contacts at a million). SQLite: None (the
    condition goes into the statement)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    ids = session.scalars(
        select(contact_tags.c.contact_id).where(contact_tags.c.tag_id == tag_id, unplanned_condition(tag_id, offer_id))
    ).all()
    return list(ids)


def _has_sender():
    """SQL over Delivery: someone may send it now (sender.sender_of is not NULL)."""
    owner = aliased(Advisor)
    return exists().where(Contact.id == Delivery.contact_id, owner.id == Contact.owner_id, sender_of(owner).is_not(None))


def release_held(session: Session, day: date) -> int:
    """HELD → PLANNED for ready offers whose mail has a sender; they go out from `day` on.

    Mails whose mailing's window has closed were made missed before (missed.miss_overdue);
    held mails still without a sender keep waiting, with the reason for the queue page."""
    ready = select(Offer.id).where(Offer.status == OfferStatus.READY)
    held = and_(Delivery.status == DeliveryStatus.HELD, Delivery.offer_id.in_(ready))
    released = (
        session.execute(
            update(Delivery)
            .where(held, _has_sender())
            .values(
                status=DeliveryStatus.PLANNED,
                send_on=case((Delivery.send_on < day, day), else_=Delivery.send_on),
                send_at=None,
                last_error=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        or 0
    )
    session.execute(
        update(Delivery).where(held, ~_has_sender()).values(last_error=NO_SENDER).execution_options(synchronize_session=False)
    )
    return released


def _notify_late(session: Session, offer: Offer, settings: Settings) -> None:
    try:
        offers.notify_offer_late(session, offer, settings)
    except Exception:  # a lost reminder must never stop the planning of everyone's mail
        log.exception("could not tell marketing that offer %s is late", offer.id)


def _dry_run(session: Session, day: date, settings: Settings, due) -> list[AdvisorDay]:
    """Per advisor: what is already planned up to `day` plus what planning would add, within the cap."""
    owner = aliased(Advisor)
    sender = sender_of(owner).label("sender_id")
    going: dict[int | None, int] = defaultdict(int)
    held: dict[int | None, int] = defaultdict(int)

    existing = (
        select(sender, func.count())
        .select_from(Delivery)
        .join(Contact, Contact.id == Delivery.contact_id)
        .join(owner, owner.id == Contact.owner_id)
        .where(
            Delivery.send_on <= day,
            or_(
                Delivery.status.in_((DeliveryStatus.PLANNED, DeliveryStatus.QUEUED)),
                and_(Delivery.status == DeliveryStatus.SENT, Delivery.send_on == day),
            ),
        )
        .group_by(sender)
    )
    for advisor_id, count in session.execute(existing):
        going[advisor_id] += count
    window_start = day - timedelta(days=max(settings.tag_spacing_days, 1) - 1)
    for tag, offer, _when in due:
        new = (
            audience.tag_audience(tag.id)
            .where(
                ~exists().where(Delivery.offer_id == offer.id, Delivery.contact_id == Contact.id),
                # A contact with another offer in the spacing window would be pushed to a later day.
                ~exists().where(
                    Delivery.contact_id == Contact.id,
                    Delivery.status.in_(spacing.OCCUPYING),
                    Delivery.send_on >= window_start,
                ),
            )
            .subquery()
        )
        query = (
            select(sender, func.count())
            .select_from(new)
            .join(Contact, Contact.id == new.c.id)
            .join(owner, owner.id == Contact.owner_id)
            .group_by(sender)
        )
        target = going if offer.status == OfferStatus.READY else held
        for advisor_id, count in session.execute(query):
            target[advisor_id] += count

    advisors: dict[int | None, Advisor] = {
        a.id: a for a in session.scalars(select(Advisor).where(Advisor.id.in_(set(going) | set(held))))
    }
    rows = []
    for advisor_id in sorted(set(going) | set(held), key=lambda i: advisors[i].name if i in advisors else ""):
        advisor = advisors.get(advisor_id)
        cap = advisor.daily_cap if advisor and advisor.daily_cap else settings.daily_cap
        total = going.get(advisor_id, 0)
        if not calendar.is_working_day(day):
            cap = 0
        rows.append(
            AdvisorDay(
                advisor_id=advisor_id,
                name=advisor.name if advisor else NO_SENDER_LABEL,
                going=min(total, cap),
                rolled=max(total - cap, 0),
                held=held.get(advisor_id, 0),
                cap=cap,
            )
        )
    return rows
