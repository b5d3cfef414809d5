"""The planner inserts a mail the spacing would move straight on its spaced day (spacing.days_for_new),
so a day's first plan moves nothing with an UPDATE (18,000 moves at a million contacts); the days are
the ones the moves gave (spacing.space_contacts), which still handles whatever it leaves over."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import event, select

from campaigns import planner, spacing
from campaigns.db import db
from campaigns.models import Delivery, DeliveryStatus, SpacingQueue
from tests.scenes import YEAR, due_tag


def _updates_of_deliveries(call):
    """``call()`` and the UPDATEs of deliveries that changed a row while it ran."""
    seen = []

    def listener(_conn, cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES") and cursor.rowcount:
            seen.append(statement)

    event.listen(db.engine, "after_cursor_execute", listener)
    try:
        result = call()
    finally:
        event.remove(db.engine, "after_cursor_execute", listener)
    return result, seen


def _days(session, contact, *, statuses=False) -> list[tuple]:
    """(offer id, day) of each of the contact's mails, with its status when ``statuses``."""
    rows = session.scalars(
        select(Delivery).where(Delivery.contact_id == contact.id).execution_options(populate_existing=True)
    ).all()
    return sorted((d.offer_id, d.send_on, str(d.status)) if statuses else (d.offer_id, d.send_on) for d in rows)


def test_two_offers_due_together_go_in_spaced_and_nothing_is_moved_afterwards(session, factory, settings):
    first, day = due_tag(factory, rule="15 jun")  # Monday 15 June 2026
    second = factory.tag(rule="15 jun", lead_days=0)
    offers = factory.offer(tag=first, year=YEAR), factory.offer(tag=second, year=YEAR)
    both = [factory.contact(tags=[first, second]) for _ in range(3)]
    alone = factory.contact(tags=[second])
    session.flush()

    result, updates = _updates_of_deliveries(lambda: planner.plan_day(session, day, settings))

    assert (result.planned, result.spaced) == (7, 3)
    assert updates == []
    assert session.scalars(select(SpacingQueue.contact_id)).all() == []
    for contact in both:
        assert _days(session, contact) == [(offers[0].id, day), (offers[1].id, date(2026, 6, 22))]
    assert _days(session, alone) == [(offers[1].id, day)]


def _scene(session, factory, day, first, second, older, kind):
    """One contact carrying both due tags (or only the second), with an older offer's mail as ``kind`` says."""
    contact = factory.contact(tags=[second] if kind == "one-beside-sent" else [first, second])
    if kind in ("sent-before", "one-beside-sent"):
        session.add(Delivery(offer=older, contact=contact, status=DeliveryStatus.SENT, send_on=day - timedelta(days=3)))
    elif kind == "planned-after":  # from an earlier run: it is the one the spacing moves
        session.add(Delivery(offer=older, contact=contact, status=DeliveryStatus.PLANNED, send_on=day + timedelta(days=3)))
    elif kind == "held-same-day":
        session.add(Delivery(offer=older, contact=contact, status=DeliveryStatus.HELD, send_on=day))
    return contact


KINDS = ("just-two", "sent-before", "one-beside-sent", "planned-after", "held-same-day")


def test_the_days_at_insert_are_the_days_the_moves_gave(session, factory, settings, monkeypatch):
    """Twins: one of each pair is placed at insert, the other (left over on purpose) inserted on the
    due day and moved by space_contacts as before; each pair ends on the same days."""
    first, day = due_tag(factory, rule="15 jun")
    second = factory.tag(rule="15 jun", lead_days=0)
    older_tag, _older_day = due_tag(factory, rule="10 jun")
    factory.offer(tag=first, year=YEAR)
    factory.offer(tag=second, year=YEAR)
    older = factory.offer(tag=older_tag, year=YEAR)
    twins = [
        (_scene(session, factory, day, first, second, older, kind), _scene(session, factory, day, first, second, older, kind))
        for kind in KINDS
    ]
    session.flush()
    moved_ones = {b.id for _a, b in twins}
    real = spacing.days_for_new

    def leaving_the_twins(session, day, spacing_days, new):
        later, left = real(
            session, day, spacing_days, [(offer_id, [c for c in ids if c not in moved_ones]) for offer_id, ids in new]
        )
        return later, left | moved_ones

    monkeypatch.setattr(spacing, "days_for_new", leaving_the_twins)

    planner.plan_day(session, day, settings)

    for kind, (placed, moved) in zip(KINDS, twins, strict=True):
        assert _days(session, placed, statuses=True) == _days(session, moved, statuses=True), kind
    for placed, _moved in twins:
        days = sorted(d for _offer, d, status in _days(session, placed, statuses=True) if status != DeliveryStatus.CANCELLED)
        assert all((b - a).days >= settings.tag_spacing_days for a, b in itertools.pairwise(days))
