from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time

from sqlalchemy import select

from campaigns import calendar, pacing
from campaigns.models import Delivery, DeliveryStatus

DAY = date(2026, 6, 15)  # a Monday, a working day
BEFORE_WORK = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # 08:00 in Moscow


def _planned(factory, session, owner, count, day=DAY):
    tag = factory.tag()
    offer = factory.offer(tag=tag, year=day.year)
    for _ in range(count):
        contact = factory.contact(owner=owner, tags=[tag])
        session.add(Delivery(offer=offer, contact=contact, status=DeliveryStatus.PLANNED, send_on=day))
    session.flush()


def _rows(session):
    session.expire_all()
    return session.scalars(select(Delivery).order_by(Delivery.id)).all()


def _local(moment, settings):
    return moment.astimezone(settings.timezone)


def test_it_keeps_an_advisors_day_within_the_cap_and_the_working_hours(session, factory, settings):
    anna = factory.advisor(daily_cap=10)
    _planned(factory, session, anna, 25)

    result = pacing.pace_day(session, DAY, settings, now=BEFORE_WORK)

    rows = _rows(session)
    today = [d for d in rows if d.send_at is not None]
    assert (result.paced, result.rolled) == (10, 15)
    assert len(today) == 10
    for delivery in today:
        local = _local(delivery.send_at, settings)
        assert local.date() == DAY
        assert time(9, 30) <= local.time() < time(18, 0)
        assert delivery.advisor_id == anna.id
    moments = sorted(d.send_at for d in today)
    assert (moments[-1] - moments[0]).total_seconds() > 6 * 3600  # spread over the day, not a burst
    rolled = [d for d in rows if d.send_at is None]
    assert {d.send_on for d in rolled} == {calendar.add_working_days(DAY, 1)}


def test_it_sends_the_rolled_over_mails_on_the_next_working_day(session, factory, settings):
    settings = dataclasses.replace(settings, daily_cap=4)
    _planned(factory, session, factory.advisor(), 6)
    pacing.pace_day(session, DAY, settings, now=BEFORE_WORK)

    next_day = calendar.add_working_days(DAY, 1)
    result = pacing.pace_day(session, next_day, settings, now=BEFORE_WORK)

    assert result.paced == 2
    assert sorted(_local(d.send_at, settings).date() for d in _rows(session)) == [DAY] * 4 + [next_day] * 2


def test_it_gives_each_advisor_their_own_cap(session, factory, settings):
    settings = dataclasses.replace(settings, daily_cap=3)
    anna, igor = factory.advisor(), factory.advisor()
    _planned(factory, session, anna, 5)
    _planned(factory, session, igor, 2)

    pacing.pace_day(session, DAY, settings, now=BEFORE_WORK)

    paced = [d.advisor_id for d in _rows(session) if d.send_at is not None]
    assert sorted(paced) == sorted([anna.id] * 3 + [igor.id] * 2)


def test_it_does_not_move_what_it_already_paced(session, factory, settings):
    _planned(factory, session, factory.advisor(), 5)
    pacing.pace_day(session, DAY, settings, now=BEFORE_WORK)
    before = [(d.id, d.send_at) for d in _rows(session)]

    pacing.pace_day(session, DAY, settings, now=BEFORE_WORK)

    assert [(d.id, d.send_at) for d in _rows(session)] == before


def test_it_uses_only_the_rest_of_the_day_when_planned_late(session, factory, settings):
    _planned(factory, session, factory.advisor(), 4)
    afternoon = datetime(2026, 6, 15, 13, 0, tzinfo=UTC)  # 16:00 in Moscow

    pacing.pace_day(session, DAY, settings, now=afternoon)

    for delivery in _rows(session):
        assert afternoon <= delivery.send_at < datetime(2026, 6, 15, 15, 0, tzinfo=UTC)


def test_it_rolls_everything_over_on_a_day_off(session, factory, settings):
    saturday = date(2026, 6, 13)
    _planned(factory, session, factory.advisor(), 2, day=saturday)

    pacing.pace_day(session, saturday, settings, now=datetime(2026, 6, 13, 5, 0, tzinfo=UTC))

    assert {(d.send_on, d.send_at) for d in _rows(session)} == {(DAY, None)}


def test_it_holds_the_relay_rate_across_workers(app, settings):
    settings = dataclasses.replace(settings, relay_rate_per_minute=3)
    # Two limiters with their own Redis connections, as in two worker processes.
    first, second = pacing.RelayLimit(settings), pacing.RelayLimit(settings)

    waits = [first.acquire(), second.acquire(), first.acquire(), second.acquire()]

    assert waits[:3] == [0, 0, 0]
    assert 0 < waits[3] <= 60
