"""Timing rules hold whatever the order of events (#21): nothing after its mailing's last day, spacing
whoever came first, the cap roll-over bounded by the window, no mail without a sender."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from campaigns import calendar, pacing, planner, sending, transport
from campaigns.db import db, utcnow
from campaigns.missed import MISSED_REASON
from campaigns.models import Delivery, DeliveryStatus, Link, MissedMailing, Note, OfferStatus
from campaigns.sender import NO_SENDER


def _deliveries(session, **where):
    query = select(Delivery).order_by(Delivery.id)
    for name, value in where.items():
        query = query.where(getattr(Delivery, name) == value)
    return session.scalars(query.execution_options(populate_existing=True)).all()


def _at(day: date, hour: int) -> datetime:
    """``hour`` o'clock in Moscow (the tests' TIMEZONE) on ``day``, as UTC."""
    return datetime(day.year, day.month, day.day, hour - 3, tzinfo=UTC)


def _ready(offer):
    offer.status = OfferStatus.READY
    offer.ready_at = utcnow()


# ------------------------------------------------------------------ 1. never after the occasion


def test_held_mail_made_ready_after_builders_day_is_missed_not_sent(session, factory, settings):
    builders = factory.tag("Строители", rule="2 sun aug", lead_days=21)  # Builders' Day 8 Aug 2027, sent from 16 Jul
    offer = factory.offer(tag=builders, year=2027, status=OfferStatus.DRAFT)
    contacts = [factory.contact(tags=[builders]) for _ in range(3)]
    assert calendar.mailing_window(builders.rule, 21, 2027) == (date(2027, 7, 16), date(2027, 8, 8))

    assert planner.plan_day(session, date(2027, 7, 16), settings).held == 3
    _ready(offer)  # on 10 August, after the occasion
    result = planner.plan_day(session, date(2027, 8, 10), settings)

    assert result.released == 0 and result.missed == 3
    rows = _deliveries(session)
    assert {d.status for d in rows} == {DeliveryStatus.CANCELLED}
    assert all(d.last_error.startswith(MISSED_REASON) for d in rows)
    for contact in contacts:
        notes = session.scalars(select(Note.body).where(Note.contact_id == contact.id)).all()
        assert any("пропущено" in body and "Строители 2027" in body for body in notes)
    record = session.scalar(select(MissedMailing))
    assert (record.tag_id, record.year, record.mails, record.audience) == (builders.id, 2027, 3, 3)
    pacing.pace_day(session, date(2027, 8, 10), settings)
    assert all(d.send_at is None for d in _deliveries(session))


def test_a_draft_made_ready_on_the_last_day_still_goes(session, factory, settings):
    builders = factory.tag("Строители", rule="2 sun aug", lead_days=21)
    offer = factory.offer(tag=builders, year=2027, status=OfferStatus.DRAFT)
    factory.contact(tags=[builders])
    planner.plan_day(session, date(2027, 7, 16), settings)
    _ready(offer)
    assert planner.plan_day(session, date(2027, 8, 6), settings).released == 1  # Friday before Builders' Day


# ------------------------------------------------------------------ 2. spacing whatever the order


def test_a_draft_released_mid_day_moves_not_the_mail_already_paced_for_today(session, factory, settings):
    earlier = factory.tag("Пятнадцатое", rule="15 aug", lead_days=21)  # sends from Fri 23 Jul 2027, until 15 Aug
    august = factory.tag("Август", kind="month", rule="workday1 aug", lead_days=0)  # Mon 2 Aug 2027
    draft = factory.offer(tag=earlier, year=2027, status=OfferStatus.DRAFT)
    factory.offer(tag=august, year=2027)
    contact = factory.contact(tags=[earlier, august])
    day = date(2027, 8, 2)

    planner.plan_day(session, date(2027, 7, 23), settings)  # held: the older row
    planner.plan_day(session, day, settings)  # 07:00
    pacing.pace_day(session, day, settings, now=_at(day, 7))
    paced = _deliveries(session, status=DeliveryStatus.PLANNED)[0]
    assert paced.send_at is not None

    _ready(draft)  # 14:00
    planner.plan_day(session, day, settings)  # the 14:10 run
    pacing.pace_day(session, day, settings, now=_at(day, 14))

    rows = {d.offer_id: d for d in _deliveries(session, contact_id=contact.id)}
    assert (rows[paced.offer_id].send_on, rows[paced.offer_id].send_at) == (day, paced.send_at)
    released = rows[draft.id]
    assert released.status == DeliveryStatus.PLANNED and released.send_at is None
    assert released.send_on >= day + timedelta(days=settings.tag_spacing_days)


def test_spacing_is_checked_again_at_the_claim(session, factory, settings):
    first_tag, second_tag = factory.tag(), factory.tag()
    first = factory.offer(tag=first_tag)
    second = factory.offer(tag=second_tag)
    second.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
    contact = factory.contact(tags=[first_tag, second_tag])
    today = utcnow().astimezone(settings.timezone).date()
    session.add(Delivery(offer=first, contact=contact, status=DeliveryStatus.SENT, send_on=today, sent_at=utcnow()))
    retried = Delivery(
        offer=second, contact=contact, status=DeliveryStatus.PLANNED, send_on=today, send_at=utcnow() - timedelta(minutes=1)
    )  # e.g. «Отправить повторно»
    session.add(retried)
    session.commit()

    result = sending.send_delivery(session, retried.id, settings, rate_limit=False)

    moved = session.get(Delivery, retried.id, populate_existing=True)
    assert result.outcome == sending.Outcome.SKIPPED
    assert (moved.status, moved.send_at) == (DeliveryStatus.PLANNED, None)
    assert moved.send_on >= today + timedelta(days=settings.tag_spacing_days)


def test_two_workers_claiming_two_offers_to_one_contact_at_once_send_one(app, session, factory, settings, smtp_server):
    """Two workers, each sending one of a contact's two due offers at the same instant: the contact gets one
    mail, the other moves on by the spacing — never both, whichever claim comes first."""
    import threading

    from tests.scenes import smtp_settings

    relay_settings = smtp_settings(settings, smtp_server)
    first, second = factory.offer(tag=factory.tag()), factory.offer(tag=factory.tag())
    for offer in (first, second):
        offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
    today = utcnow().astimezone(settings.timezone).date()
    pairs = []
    for _ in range(12):
        contact = factory.contact(tags=[first.tag, second.tag])
        due = dict(contact=contact, status=DeliveryStatus.QUEUED, send_on=today, send_at=utcnow() - timedelta(minutes=1))
        pairs.append((Delivery(offer=first, **due), Delivery(offer=second, **due)))
        session.add_all(pairs[-1])
    session.commit()
    both_ready = threading.Barrier(2, timeout=30)
    failures = []

    def worker(side: int) -> None:  # a worker process of its own: its own session and SMTP connection
        with app.app_context(), transport.open_transport(relay_settings.mail) as relay:
            try:
                for pair in pairs:
                    both_ready.wait()
                    sending.send_delivery(db.session, pair[side].id, relay_settings, transport=relay, rate_limit=False)
            except Exception as exc:  # noqa: BLE001 — reported by the test below
                both_ready.abort()
                failures.append(exc)
            finally:
                db.registry.remove()

    workers = [threading.Thread(target=worker, args=(side,)) for side in (0, 1)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)

    assert not failures
    spaced = today + timedelta(days=settings.tag_spacing_days)
    for pair in pairs:
        rows = [session.get(Delivery, d.id, populate_existing=True) for d in pair]
        sent = [d for d in rows if d.status == DeliveryStatus.SENT]
        assert len(sent) <= 1
        assert all(d.status == DeliveryStatus.PLANNED and d.send_on >= spaced for d in rows if d not in sent)
    assert len(smtp_server.messages) <= len(pairs)


# ------------------------------------------------------------------ 3. the roll-over stops at the window's end


@pytest.mark.parametrize(
    "name, kind, rule, lead, last_working_day",
    [
        ("8 марта", "holiday", "8 mar", 21, date(2027, 3, 5)),  # 8 March 2027 is a Monday holiday
        ("Март", "month", "workday1 mar", 0, date(2027, 3, 15)),  # window: 1–15 March
    ],
)
def test_the_cap_roll_over_stops_at_the_windows_end(session, factory, settings, name, kind, rule, lead, last_working_day):
    tag = factory.tag(name, kind=kind, rule=rule, lead_days=lead)
    offer = factory.offer(tag=tag, year=2027)
    advisor = factory.advisor(daily_cap=1)
    for _ in range(3):
        contact = factory.contact(owner=advisor, tags=[tag])
        session.add(Delivery(offer=offer, contact=contact, status=DeliveryStatus.PLANNED, send_on=last_working_day))
    session.flush()

    result = pacing.pace_day(session, last_working_day, settings, now=_at(last_working_day, 7))

    assert (result.paced, result.rolled, result.missed) == (1, 0, 2)
    rows = _deliveries(session)
    assert [d.send_on for d in rows if d.status == DeliveryStatus.PLANNED] == [last_working_day]
    assert sum(1 for d in rows if d.status == DeliveryStatus.CANCELLED and d.last_error.startswith(MISSED_REASON)) == 2
    assert session.scalar(select(MissedMailing.mails)) == 2


# ------------------------------------------------------------------ 4. never without a sender


def test_planning_holds_mail_nobody_may_send_with_the_reason(session, factory, settings):
    tag = factory.tag(rule="15 jun", lead_days=0)
    factory.offer(tag=tag, year=2026)
    gone = factory.advisor(active=False)  # and no house advisor
    contact = factory.contact(owner=gone, tags=[tag])
    day = date(2026, 6, 15)

    result = planner.plan_day(session, day, settings)
    paced = pacing.pace_day(session, day, settings, now=_at(day, 7))

    delivery = _deliveries(session)[0]
    assert (result.planned, result.held, paced.paced) == (0, 1, 0)
    assert (delivery.status, delivery.last_error, delivery.send_at) == (DeliveryStatus.HELD, NO_SENDER, None)

    house = factory.house_advisor()  # someone may send it now: it is released
    assert planner.plan_day(session, day, settings).released == 1
    pacing.pace_day(session, day, settings, now=_at(day, 7))
    delivery = _deliveries(session)[0]
    assert (delivery.status, delivery.advisor_id, delivery.last_error) == (DeliveryStatus.PLANNED, house.id, None)
    assert contact.id == delivery.contact_id


def test_pacing_holds_mail_whose_owner_left_when_there_is_no_house_advisor(session, factory, settings):
    tag = factory.tag(rule="15 jun", lead_days=0)
    factory.offer(tag=tag, year=2026)
    owner = factory.advisor()
    factory.contact(owner=owner, tags=[tag])
    day = date(2026, 6, 15)
    planner.plan_day(session, day, settings)
    owner.active = False
    session.flush()

    assert pacing.pace_day(session, day, settings, now=_at(day, 7)).held == 1
    assert _deliveries(session)[0].status == DeliveryStatus.HELD


def test_the_queue_page_shows_held_mail_without_a_sender_and_missed_mail(client, session, factory, settings):
    tag = factory.tag("Медики", rule="15 jun", lead_days=0)
    factory.offer(tag=tag, year=2026)
    factory.contact(owner=factory.advisor(active=False), tags=[tag], last_name="Безотправителев")
    planner.plan_day(session, date(2026, 6, 15), settings)
    admin = factory.advisor(role="admin")
    session.commit()
    client.login(admin)
    page = client.get("/queue").get_data(as_text=True)
    assert "Безотправителев" in page and "дежурного советника нет" in page


# ------------------------------------------------------------------ 4. closed mailings, counted at once


def test_closed_mailings_are_recorded_with_each_tags_own_audience_in_one_count(session, factory, settings):
    march = factory.tag("Март", kind="month", rule="workday1 mar", lead_days=0)
    april = factory.tag("Апрель", kind="month", rule="workday1 apr", lead_days=0)
    may = factory.tag("Май", kind="month", rule="workday1 may", lead_days=0)
    factory.offer(tag=april, year=2027, status=OfferStatus.DRAFT)
    factory.contact(tags=[march, april])  # counted under both of its tags
    factory.contact(tags=[march])
    factory.contact(tags=[april, may], unsubscribed_at=utcnow())  # in no audience
    factory.contact(tags=[may], consent_at=None)  # no consent on record: in no audience either
    statements = []

    def listener(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        planner.plan_day(session, date(2027, 6, 1), settings)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)

    records = {r.tag_id: r for r in session.scalars(select(MissedMailing).where(MissedMailing.year == 2027))}
    assert {tag_id: (r.audience, r.offer_status) for tag_id, r in records.items()} == {
        march.id: (2, "missing"),
        april.id: (1, "draft"),
        may.id: (0, "missing"),
    }
    assert sum("count(" in s.lower() and "contact_tags" in s for s in statements) == 1
