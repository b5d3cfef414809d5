"""A planning run spaces only the contacts it planned and those whose mail changed since the last
run (a trigger on deliveries queues them), so a repeat with nothing new reads no mail (#15); what
changes a mail's day between two runs — pacing's roll-over, a retry — is still spaced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns import deliveries, pacing, planner, spacing
from campaigns.db import utcnow
from campaigns.models import Delivery, DeliveryStatus, SpacingQueue
from tests.scenes import YEAR, due_tag


def _two_due(session, factory, contacts=1):
    first, day = due_tag(factory, rule="15 jun")  # Monday 15 June 2026
    second = factory.tag(rule="15 jun", lead_days=0)
    offers = factory.offer(tag=first, year=YEAR), factory.offer(tag=second, year=YEAR)
    people = [factory.contact(tags=[first, second]) for _ in range(contacts)]
    session.flush()
    return day, offers, people


def _days(session, contact) -> list[date]:
    rows = session.scalars(
        select(Delivery).where(Delivery.contact_id == contact.id).execution_options(populate_existing=True)
    ).all()
    return sorted(d.send_on for d in rows)


def _queued(session) -> list[int]:
    return sorted(session.scalars(select(SpacingQueue.contact_id)).all())


@pytest.mark.parametrize("targeted_until", [spacing.TARGETED_UNTIL, 0], ids=["by-list", "whole-day"])
def test_a_repeat_after_a_roll_over_still_separates_two_mails_of_one_contact(
    session, factory, settings, monkeypatch, targeted_until
):
    monkeypatch.setattr(spacing, "TARGETED_UNTIL", targeted_until)
    day, _offers, (contact,) = _two_due(session, factory)
    assert planner.plan_day(session, day, settings).spaced == 1
    first, second = _days(session, contact)
    assert (first, second) == (day, date(2026, 6, 22))
    # Paced after working hours: today's mail rolls over to Tuesday, six days before the other one.
    evening = datetime(day.year, day.month, day.day, 20, tzinfo=UTC)
    assert pacing.pace_day(session, day, settings, now=evening).rolled == 1
    assert _days(session, contact) == [date(2026, 6, 16), date(2026, 6, 22)]

    again = planner.plan_day(session, day, settings)  # the run ten minutes later

    assert (again.planned, again.spaced) == (0, 1)
    first, second = _days(session, contact)
    assert (first, second) == (date(2026, 6, 16), date(2026, 6, 23))
    assert second - first >= timedelta(days=settings.tag_spacing_days)


def test_a_retried_mail_moves_the_planned_one_it_now_comes_too_close_to(session, factory, settings):
    day, (older, _newer), (contact,) = _two_due(session, factory)
    failed = Delivery(offer=older, contact=contact, status=DeliveryStatus.FAILED, send_on=day - timedelta(days=2))
    session.add(failed)
    session.flush()
    planned = planner.plan_day(session, day, settings)
    assert (planned.planned, planned.spaced) == (1, 0)  # a failed mail takes no room
    assert deliveries.retry(session, failed.id, None)  # «Отправить повторно»: it counts again

    again = planner.plan_day(session, day, settings)

    assert again.spaced == 1
    assert _days(session, contact) == [day - timedelta(days=2), date(2026, 6, 22)]


def test_a_repeat_with_nothing_changed_reads_no_mail_for_spacing(session, factory, settings, monkeypatch):
    day, _offers, _people = _two_due(session, factory, contacts=3)
    calls = []
    real = spacing.space_contacts
    monkeypatch.setattr(spacing, "space_contacts", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    assert planner.plan_day(session, day, settings).spaced == 3
    assert _queued(session) == []  # the planner's own moves are spaced already: not queued for the next run
    calls.clear()
    assert planner.plan_day(session, day, settings).spaced == 0
    assert calls == []


def test_sending_and_pacing_for_the_planned_day_queue_nothing(session, factory, settings):
    day, _offers, (contact,) = _two_due(session, factory)
    planner.plan_day(session, day, settings)
    spacing.take_spacing_queue(session)
    mail = session.scalars(select(Delivery).where(Delivery.send_on == day)).one()
    for values in (
        {"send_at": utcnow()},  # paced for its own day
        {"status": DeliveryStatus.QUEUED},
        {"status": DeliveryStatus.SENDING},
        {"status": DeliveryStatus.SENT, "sent_at": utcnow()},
    ):
        for name, value in values.items():
            setattr(mail, name, value)
        session.flush()
    assert _queued(session) == []
    mail.send_on = day + timedelta(days=1)  # a mail that changes its day is queued
    session.flush()
    assert _queued(session) == [contact.id]
    assert session.scalar(select(func.count()).select_from(SpacingQueue)) == 1
