"""Spacing: any two offers to one contact go at least TAG_SPACING_DAYS apart.

The planner spaces when it plans (space_changed: the contacts it has just given a mail and those a
trigger on deliveries queued since its last run, because a mail of theirs began to count, moved to
another day or became movable — pacing's roll-over, a release, a retry, a mail given back as held
or moved at the claim); the sender checks again at the claim (spacing_latest inside its claim
statement on PostgreSQL, spacing_clash on SQLite), so two mails claimed close together never both go.
Functions here flush but never commit.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from datetime import date, timedelta

from sqlalchemy import Date, Integer, Table, and_, bindparam, case, delete, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from . import calendar, missed
from .db import UTCDateTime, utcnow
from .models import Delivery, DeliveryStatus, SpacingQueue

# Up to this many contacts the spacing reads theirs by a list; more (a day's first plan, a big roll-over),
# the whole day at once: at a million contacts a list of 18,000 took 1.2 s, the day 0.3 s.
TARGETED_UNTIL = 5_000

# Deliveries that count when spacing a contact's offers: those that went or may go out.
OCCUPYING = (
    DeliveryStatus.PLANNED,
    DeliveryStatus.HELD,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.RETRYING,
    DeliveryStatus.SENT,
    DeliveryStatus.UNKNOWN,
)


def space_changed(session: Session, day: date, spacing_days: int, planned: set[int]) -> int:
    """Space the contacts given a mail by this run (``planned``) and those whose mail changed since the
    last run; every other pair was apart before and nothing has moved it. Moves, as space_contacts."""
    changed = planned | take_spacing_queue(session)
    if not changed:
        return 0
    return space_contacts(session, day, spacing_days, None if len(changed) > TARGETED_UNTIL else changed)


def take_spacing_queue(session: Session) -> set[int]:
    """The contacts whose mail changed in a way that may break the spacing since the queue was last
    taken (noted by a trigger on deliveries: a mail began to count, moved to another day or became
    movable). DELETE … RETURNING: a change committed after this statement stays for the next run."""
    return set(session.scalars(delete(SpacingQueue).returning(SpacingQueue.contact_id)).all())


def space_contacts(session: Session, day: date, spacing_days: int, contacts: Collection[int] | None = None) -> int:
    """Move a contact's not-yet-timed deliveries so that any two of its offers are `spacing_days` apart.

    `contacts`: only these (plan_day passes the contacts it planned and those in the spacing queue:
    every other pair was apart before and nothing moved it); None: everyone.

    What already has its moment (paced for today, queued, sent) stays where it is and the
    later mail moves, whatever order the rows were made in (a draft released mid-day, a tag
    added, a retry). A mail pushed past its mailing's last day is missed, never sent late.
    One statement finds the contacts with a movable mail closer than `spacing_days` to another
    live one (pairs already apart are left alone: a repeat run finds nobody), one reads all their
    live mails, and the moves go out as one batch of updates — not two statements per contact.
    """
    if spacing_days <= 0:
        return 0
    live, movable = _live(day, spacing_days), _movable(day)
    window_start = day - timedelta(days=spacing_days - 1)
    other = aliased(Delivery)
    colliding = (
        select(Delivery.contact_id)
        .join(other, and_(other.contact_id == Delivery.contact_id, other.id != Delivery.id))
        .where(
            movable,
            other.status.in_(OCCUPYING),
            other.send_on >= window_start,
            _days_apart(session, other.send_on, Delivery.send_on) < spacing_days,
        )
        .distinct()
    )
    if contacts is not None:
        colliding = colliding.where(_among(session, Delivery.contact_id, contacts))
    rows = session.execute(
        select(Delivery.contact_id, Delivery.id, Delivery.offer_id, Delivery.send_on, case((movable, True), else_=False))
        .where(live, Delivery.contact_id.in_(colliding))
        .order_by(Delivery.contact_id, Delivery.send_on, Delivery.id)
    ).all()
    last_days = missed.last_days(session, {offer_id for _c, _id, offer_id, _on, can_move in rows if can_move})
    moves: list[dict] = []
    moved: set[int] = set()
    missing: dict[int, list[int]] = {}
    for contact_id, grouped in itertools.groupby(rows, key=lambda row: row[0]):
        for delivery_id, offer_id, send_on, wanted in _placements([row[1:] for row in grouped], spacing_days, last_days):
            if wanted is None:
                missing.setdefault(offer_id, []).append(delivery_id)
            elif wanted != send_on:
                moves.append({"row_id": delivery_id, "wanted": wanted})
                moved.add(contact_id)
    for offer_id, delivery_ids in missing.items():
        missed.mark_missed(session, offer_id, delivery_ids)
    if moves:
        _move(session, moves)
        _forget_own_moves(session, moved)
    return len(moves)


def days_for_new(
    session: Session, day: date, spacing_days: int, new: list[tuple[int, list[int]]]
) -> tuple[dict[int, dict[int, date]], set[int]]:
    """Before the planner inserts the mails due on ``day``: ``new`` is (offer id, the ids of the contacts
    about to get its mail) for each offer, in the order they will be inserted. Returns offer id →
    contact id → the later day the spacing puts that mail on (for those it does not leave on ``day``),
    and the contacts left to space_contacts. The planner inserts the mails on those days, so that no
    UPDATE moves them afterwards (18,000 moves at a million contacts, each paying the triggers on
    deliveries), and spaces afterwards only the contacts left over.

    The days are space_contacts' own: a contact's live mails and their new ones (on ``day``, after
    that day's mails, in the order of ``new``, as they would be once inserted) go through the same
    placement. A contact for whom it would move a mail they already have, or put a new one past its
    mailing's last day, is left over: their mails go in on ``day``, and space_contacts moves them as
    before. A contact with one new mail and no live one has nothing to space."""
    if spacing_days <= 0 or not new:
        return {}, set()
    order = {offer_id: i for i, (offer_id, _ids) in enumerate(new)}
    offers: dict[int, list[int]] = {}
    for offer_id, ids in new:
        for contact_id in ids:
            offers.setdefault(contact_id, []).append(offer_id)
    movable = _movable(day)
    mails: dict[int, list[tuple]] = {}
    contacts = list(offers)
    step = len(contacts) if session.get_bind().dialect.name == "postgresql" else 10_000  # SQLite's parameter limit
    for start in range(0, len(contacts), step or 1):
        for contact_id, *mail in session.execute(
            select(Delivery.contact_id, Delivery.id, Delivery.offer_id, Delivery.send_on, case((movable, True), else_=False))
            .where(_live(day, spacing_days), _among(session, Delivery.contact_id, contacts[start : start + step]))
            .order_by(Delivery.contact_id, Delivery.send_on, Delivery.id)
        ):
            mails.setdefault(contact_id, []).append(tuple(mail))
    worth = [contact_id for contact_id, offer_ids in offers.items() if len(offer_ids) > 1 or contact_id in mails]
    last_days = missed.last_days(session, set(order) | {mail[1] for rows in mails.values() for mail in rows if mail[3]})
    later: dict[int, dict[int, date]] = {}
    left: set[int] = set()
    for contact_id in worth:
        had = mails.get(contact_id, [])
        at = next((i for i, (_id, _offer, send_on, _can_move) in enumerate(had) if send_on > day), len(had))
        coming = [(None, offer_id, day, True) for offer_id in sorted(offers[contact_id], key=order.__getitem__)]
        placed = _placements([*had[:at], *coming, *had[at:]], spacing_days, last_days)
        if any(wanted != send_on if delivery_id is not None else wanted is None for delivery_id, _o, send_on, wanted in placed):
            left.add(contact_id)
            continue
        for delivery_id, offer_id, _on, wanted in placed:
            if delivery_id is None and wanted != day:
                later.setdefault(offer_id, {})[contact_id] = wanted
    return later, left


def _placements(mails, spacing_days: int, last_days: dict[int, date]) -> list[tuple]:
    """The spacing rule for one contact. ``mails``: (delivery id, offer id, day, movable) of their live
    mails in (day, id) order. What may not move stays; each movable mail in turn keeps its day when it
    is ``spacing_days`` from every mail placed before it, else goes to the first working day that far
    after the latest it clashes with. (delivery id, offer id, day, the day it goes on) for each movable
    mail; None as the day when that is past its mailing's last day (the mail is missed)."""
    gap = timedelta(days=spacing_days)
    placed = [send_on for _id, _offer, send_on, can_move in mails if not can_move]
    decided = []
    for delivery_id, offer_id, send_on, can_move in mails:
        if not can_move:
            continue
        wanted = send_on
        while clash := [other_day for other_day in placed if abs((wanted - other_day).days) < spacing_days]:
            wanted = calendar.next_working_day(max(clash) + gap)
        if wanted != send_on and offer_id in last_days and wanted > last_days[offer_id]:
            decided.append((delivery_id, offer_id, send_on, None))
            continue
        decided.append((delivery_id, offer_id, send_on, wanted))
        placed.append(wanted)
    return decided


def _live(day: date, spacing_days: int):
    """SQL over Delivery: a mail that counts when spacing mails from ``day`` on."""
    return and_(Delivery.status.in_(OCCUPYING), Delivery.send_on >= day - timedelta(days=spacing_days - 1))


def _movable(day: date):
    """SQL over Delivery: the spacing may move it (planned or held, no moment yet, not before ``day``)."""
    return and_(
        Delivery.status.in_((DeliveryStatus.PLANNED, DeliveryStatus.HELD)),
        Delivery.send_at.is_(None),
        Delivery.send_on >= day,
    )


def _forget_own_moves(session: Session, contacts: set[int]) -> None:
    """Take back what the trigger queued for the moves just made: they are spaced by construction,
    and re-reading their contacts cost the next run more than all the rest (18,000 at a million).
    Only this transaction's rows go: PostgreSQL tells them by xmin; SQLite has one writer at a time,
    and the planner has been writing since it took the queue, so the moved contacts' rows are ours."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DELETE FROM spacing_queue WHERE xmin = pg_current_xact_id()::xid"))
    else:
        ids = sorted(contacts)
        for start in range(0, len(ids), 10_000):  # SQLite's limit on one statement's parameters
            session.execute(delete(SpacingQueue).where(SpacingQueue.contact_id.in_(ids[start : start + 10_000])))


def _among(session: Session, column, ids: Collection[int]):
    """SQL: ``column`` is one of ``ids`` (PostgreSQL: one array parameter, however many)."""
    if session.get_bind().dialect.name == "postgresql":
        return column.in_(select(func.unnest(bindparam("among", list(ids), type_=postgresql.ARRAY(Integer)), type_=Integer)))
    return column.in_(list(ids))


def _move(session: Session, moves: list[dict]) -> None:
    """Each delivery ``row_id`` to the day ``wanted``: on PostgreSQL one UPDATE per 10,000 moves
    (two arrays unnested), not one per move (18,000 moves at a million contacts)."""
    table = Delivery.__table__
    assert isinstance(table, Table)
    if not moves:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(
            update(table).where(table.c.id == bindparam("row_id")).values(send_on=bindparam("wanted"), updated_at=utcnow()),
            moves,
        )
        return
    for start in range(0, len(moves), 10_000):
        chunk = moves[start : start + 10_000]
        session.execute(
            text(
                "UPDATE deliveries SET send_on = m.wanted, updated_at = :now"
                " FROM unnest(CAST(:ids AS integer[]), CAST(:days AS date[])) AS m(id, wanted) WHERE deliveries.id = m.id"
            ).bindparams(bindparam("now", type_=UTCDateTime)),
            {"ids": [m["row_id"] for m in chunk], "days": [m["wanted"] for m in chunk], "now": utcnow()},
        )


def _days_apart(session: Session, later, earlier):
    """SQL: the number of days from ``earlier`` to ``later`` (two DATE columns)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.abs(later - earlier)
    return func.abs(func.julianday(later) - func.julianday(earlier))


# The spacing rule at the claim, in three parts the sender composes into its claim statement
# (send_statements.py) and spacing_clash() runs on its own: the window around the day, the latest
# clashing day among a contact's deliveries, and the day the mail moves to.
_CLASHING = (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)


def spacing_window(day: date, spacing_days: int) -> dict[str, date]:
    """The parameters ``since`` and ``until`` of spacing_latest: the days within `spacing_days` of `day`."""
    gap = timedelta(days=spacing_days)
    return {"since": day - gap, "until": day + gap}


def in_spacing_window(send_on):
    """SQL: ``send_on`` lies strictly within the window of spacing_window's parameters."""
    return and_(send_on > bindparam("since", type_=Date), send_on < bindparam("until", type_=Date))


def spacing_latest(rows, delivery_id, *contact):
    """SQL: the latest day among ``rows`` (deliveries: the table, or a set read from it, with columns id,
    status and send_on) of another mail to the contact that went or is going out within the window;
    NULL when none did. ``contact``: the condition that narrows ``rows`` to the contact, if they are not yet."""
    return select(func.max(rows.c.send_on)).where(
        *contact, rows.c.id != delivery_id, rows.c.status.in_(_CLASHING), in_spacing_window(rows.c.send_on)
    )


def spacing_moves_to(latest: date | None, spacing_days: int) -> date | None:
    """The day a mail may go instead, given spacing_latest's answer; None when it may go now."""
    if latest is None:
        return None
    return calendar.next_working_day(latest + timedelta(days=spacing_days))


_deliveries: Table = Delivery.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
# Built once: the sender runs it for every mail on SQLite (only the parameters change).
_SPACING_CLASH = spacing_latest(_deliveries, bindparam("delivery_id"), _deliveries.c.contact_id == bindparam("contact_id"))


def spacing_clash(session: Session, delivery_id: int, contact_id: int, day: date, spacing_days: int) -> date | None:
    """At the claim: the day this delivery may go instead, when another offer to the contact went
    (or is going) less than `spacing_days` ago; None when it may go now. (On PostgreSQL the sender
    runs the same rule inside its claim statement: send_statements.claim_statements.)"""
    if spacing_days <= 0:
        return None
    latest = session.scalar(
        _SPACING_CLASH, {"contact_id": contact_id, "delivery_id": delivery_id, **spacing_window(day, spacing_days)}
    )
    return spacing_moves_to(latest, spacing_days)
