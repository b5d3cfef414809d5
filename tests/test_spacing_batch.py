"""Spacing costs the same few statements for 3 contacts as for 30, and a repeat with nothing to
move finds nobody instead of re-reading every contact with two mails (#15)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import event, select

from campaigns import planner, spacing
from campaigns.db import db
from campaigns.models import Delivery
from tests.scenes import YEAR, due_tag


def _statements(call):
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return result, len(seen)


def _pair(session, factory, rule, contacts):
    first, day = due_tag(factory, rule=rule)
    second = factory.tag(rule=rule, lead_days=0)
    factory.offer(tag=first, year=YEAR)
    factory.offer(tag=second, year=YEAR)
    people = [factory.contact(tags=[first, second]) for _ in range(contacts)]
    session.flush()
    return day, people


def test_spacing_thirty_contacts_takes_as_many_statements_as_three(session, factory, settings):
    unspaced = dataclasses.replace(settings, tag_spacing_days=0)
    counts = []
    for rule, contacts in (("15 jun", 3), ("14 aug", 30)):
        day, _ = _pair(session, factory, rule, contacts)
        planner.plan_day(session, day, unspaced)
        counts.append(_statements(lambda day=day: spacing.space_contacts(session, day, settings.tag_spacing_days)))
    (few, few_statements), (many, many_statements) = counts
    assert (few, many) == (3, 30)
    assert few_statements == many_statements <= 4


def test_a_repeat_moves_nothing_and_reads_no_contact_one_by_one(session, factory, settings):
    day, _people = _pair(session, factory, "15 jun", 30)
    planner.plan_day(session, day, settings)
    days = {}
    for d in session.scalars(select(Delivery)):
        days.setdefault(d.contact_id, []).append(d.send_on)
    assert all(sorted(v)[1] >= day + timedelta(days=settings.tag_spacing_days) for v in days.values())
    moved, statements = _statements(lambda: spacing.space_contacts(session, day, settings.tag_spacing_days))
    assert moved == 0 and statements <= 2
