"""The planner runs every 10 minutes: a repeat writes nothing and, with nothing new, inserts
nothing; a contact given the tag meanwhile is planned alone (#15: 325,000 mails at a million)."""

from __future__ import annotations

from sqlalchemy import event, select

from campaigns import planner
from campaigns.db import db
from campaigns.models import Delivery
from tests.scenes import YEAR, due_tag


def _pair(session, factory, rule, contacts):
    """Two tags due the same day, both carried by ``contacts`` contacts: one of each pair is spaced."""
    first, day = due_tag(factory, rule=rule)
    second = factory.tag(rule=rule, lead_days=0)
    factory.offer(tag=first, year=YEAR)
    factory.offer(tag=second, year=YEAR)
    people = [factory.contact(tags=[first, second]) for _ in range(contacts)]
    session.flush()
    return day, people


def test_a_repeat_plans_only_the_contact_tagged_meanwhile(session, factory, settings):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    people = [factory.contact(tags=[tag]) for _ in range(3)]
    factory.contact(tags=[tag], unsubscribed_at=people[0].created_at)  # never in the audience
    assert planner.plan_day(session, day, settings).planned == 3
    late = factory.contact(tags=[tag])
    again = planner.plan_day(session, day, settings)
    assert (again.planned, again.spaced) == (1, 0)
    planned = session.scalars(select(Delivery.contact_id)).all()
    assert sorted(planned) == sorted([p.id for p in people] + [late.id])


def test_a_repeat_with_nothing_new_inserts_nothing(session, factory, settings):
    day, _people = _pair(session, factory, "15 jun", 5)
    first = planner.plan_day(session, day, settings)
    assert (first.planned, first.spaced) == (10, 5)
    inserts = []

    def listener(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        again = planner.plan_day(session, day, settings)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert (again.planned, again.spaced, again.released) == (0, 0, 0)
    if session.get_bind().dialect.name == "postgresql":
        assert inserts == []  # the unplanned contacts are looked up first: none, so no INSERT … SELECT
    assert len(session.scalars(select(Delivery)).all()) == 10


def test_a_big_plan_refreshes_the_statistics_before_spacing(session, factory, settings, monkeypatch):
    """PostgreSQL: after many new mails the spacing statement is planned on fresh statistics."""
    monkeypatch.setattr(planner, "ANALYZE_AFTER", 2)
    day, _people = _pair(session, factory, "15 jun", 2)
    seen = []

    def listener(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = planner.plan_day(session, day, settings)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert (result.planned, result.spaced) == (4, 2)
    assert ("ANALYZE" in seen) == (session.get_bind().dialect.name == "postgresql")
