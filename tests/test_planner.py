from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from campaigns import calendar, planner
from campaigns.db import utcnow
from campaigns.models import Delivery, DeliveryStatus, OfferStatus, Suppression, SuppressionReason
from tests.scenes import YEAR, due_tag


def _deliveries(session):
    return session.scalars(select(Delivery).order_by(Delivery.id)).all()


def test_it_plans_each_contact_once_even_when_run_twice(session, factory, settings):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    advisor = factory.advisor()
    contacts = [factory.contact(owner=advisor, tags=[tag]) for _ in range(3)]
    factory.contact(owner=advisor)  # no tag

    first = planner.plan_day(session, day, settings)
    second = planner.plan_day(session, day, settings)

    rows = _deliveries(session)
    assert sorted(d.contact_id for d in rows) == sorted(c.id for c in contacts)
    assert {d.status for d in rows} == {DeliveryStatus.PLANNED}
    assert {d.send_on for d in rows} == {day}
    assert (first.planned, second.planned) == (3, 0)


def test_it_never_plans_unsubscribed_suppressed_archived_or_addressless_contacts(session, factory, settings):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    good = factory.contact(tags=[tag])
    factory.contact(tags=[tag], unsubscribed_at=utcnow())
    factory.contact(tags=[tag], archived_at=utcnow())
    factory.contact(tags=[tag], email=None)
    blocked = factory.contact(tags=[tag])
    session.add(Suppression(email=blocked.email, reason=SuppressionReason.BOUNCE))
    session.flush()

    planner.plan_day(session, day, settings)

    assert [d.contact_id for d in _deliveries(session)] == [good.id]


def test_it_does_nothing_before_the_send_date_or_without_an_offer(session, factory, settings):
    tag, day = due_tag(factory)
    other, _ = due_tag(factory)  # no offer this year
    factory.offer(tag=tag, year=YEAR)
    factory.contact(tags=[tag, other])

    planner.plan_day(session, day - timedelta(days=1), settings)
    assert _deliveries(session) == []
    planner.plan_day(session, day, settings)
    assert len(_deliveries(session)) == 1


def test_it_catches_up_a_mailing_missed_during_downtime(session, factory, settings):
    tag, day = due_tag(factory, rule="15 jun", lead_days=10)
    factory.offer(tag=tag, year=YEAR)
    factory.contact(tags=[tag])

    later = calendar.add_working_days(day, 3)
    result = planner.plan_day(session, later, settings)

    assert result.planned == 1
    assert _deliveries(session)[0].send_on == later


def test_it_does_not_send_a_holiday_offer_after_the_holiday(session, factory, settings):
    tag, _day = due_tag(factory, rule="15 jun", lead_days=21)
    factory.offer(tag=tag, year=YEAR)
    factory.contact(tags=[tag])

    planner.plan_day(session, date(YEAR, 7, 20), settings)

    assert _deliveries(session) == []


def test_it_holds_a_draft_offer_and_releases_it_once_ready(session, factory, settings):
    tag, day = due_tag(factory)
    offer = factory.offer(tag=tag, year=YEAR, status=OfferStatus.DRAFT)
    factory.contact(tags=[tag])

    held = planner.plan_day(session, day, settings)
    assert held.held == 1
    assert _deliveries(session)[0].status == DeliveryStatus.HELD

    offer.status = OfferStatus.READY
    session.flush()
    later = calendar.add_working_days(day, 2)
    released = planner.plan_day(session, later, settings)

    delivery = _deliveries(session)[0]
    assert released.released == 1
    assert (delivery.status, delivery.send_on) == (DeliveryStatus.PLANNED, later)


def test_it_spaces_two_offers_falling_due_together(session, factory, settings):
    first_tag, day = due_tag(factory, rule="15 jun")
    second_tag = factory.tag(rule="15 jun", lead_days=0)
    factory.offer(tag=first_tag, year=YEAR)
    factory.offer(tag=second_tag, year=YEAR)
    both = factory.contact(tags=[first_tag, second_tag])
    only_one = factory.contact(tags=[second_tag])

    result = planner.plan_day(session, day, settings)

    days = sorted(d.send_on for d in _deliveries(session) if d.contact_id == both.id)
    assert days[0] == day
    assert days[1] >= day + timedelta(days=settings.tag_spacing_days)
    assert calendar.is_working_day(days[1])
    assert [d.send_on for d in _deliveries(session) if d.contact_id == only_one.id] == [day]
    assert result.spaced == 1


def test_it_spaces_an_offer_after_one_sent_a_few_days_ago(session, factory, settings):
    old_tag, old_day = due_tag(factory, rule="1 jun")
    new_tag, day = due_tag(factory, rule="4 jun")
    contact = factory.contact(tags=[old_tag, new_tag])
    old_offer = factory.offer(tag=old_tag, year=YEAR)
    factory.offer(tag=new_tag, year=YEAR)
    session.add(Delivery(offer=old_offer, contact=contact, status=DeliveryStatus.SENT, send_on=old_day))
    session.flush()

    planner.plan_day(session, day, settings)

    new = [d for d in _deliveries(session) if d.offer_id != old_offer.id][0]
    assert new.send_on >= old_day + timedelta(days=settings.tag_spacing_days)


def test_it_shows_a_dry_run_per_advisor_without_writing(session, factory, settings):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    anna = factory.advisor(name="Анна", daily_cap=2)
    igor = factory.advisor(name="Игорь")
    for _ in range(3):
        factory.contact(owner=anna, tags=[tag])
    factory.contact(owner=igor, tags=[tag])

    result = planner.plan_day(session, day, settings, dry_run=True)

    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    view = {a.name: (a.going, a.rolled) for a in result.advisors}
    assert view == {"Анна": (2, 1), "Игорь": (1, 0)}


def test_it_counts_a_deactivated_advisors_contacts_for_the_house_advisor(session, factory, settings):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    house = factory.house_advisor()
    gone = factory.advisor(active=False)
    factory.contact(owner=gone, tags=[tag])

    result = planner.plan_day(session, day, settings, dry_run=True)

    assert [(a.advisor_id, a.going) for a in result.advisors] == [(house.id, 1)]


def test_it_prints_the_dry_run_from_the_command_line(app, session, factory):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    factory.contact(owner=factory.advisor(name="Анна Смирнова"), tags=[tag])
    session.commit()

    result = app.test_cli_runner().invoke(args=["campaigns", "plan", "--date", day.isoformat(), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "Анна Смирнова" in result.output
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
