"""Whose name a mail goes out in: compose, the planner's dry run, pacing, the board and the queue page
agree (sender.py), also after an advisor is deactivated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns import calendar, deliveries, ownership, pacing, planner
from campaigns.board import readiness_board
from campaigns.compose import build_offer_message
from campaigns.models import Advisor, Delivery, DeliveryStatus, Link, Role
from campaigns.sender import NO_SENDER_LABEL, NoSender, sender_for

YEAR = 2026
RULE = "15 jun"
DAY = calendar.send_date(RULE, 0, YEAR)


def _compose(session, settings, delivery):
    try:
        # What sending.send_delivery does: the sender of the moment, then the pure composer.
        message = build_offer_message(
            offer=delivery.offer,
            contact=delivery.contact,
            advisor=sender_for(session, delivery.contact),
            settings=settings,
            delivery_id=delivery.id,
        )
    except NoSender:
        return NO_SENDER_LABEL
    return message["From"].addresses[0].display_name


def _board(session, settings, delivery):
    rows = readiness_board(session, settings, DAY - timedelta(days=5))
    row = next(row for row in rows if row.tag.id == delivery.offer.tag_id)
    return [load.name for load in row.advisors]


def _dry_run(session, settings, delivery):
    # A second contact with the tag, not planned yet: the dry run counts it under its sender.
    return [a.name for a in planner.plan_day(session, DAY, settings, dry_run=True).advisors if a.going]


def _queue(session, settings, delivery):
    return deliveries.queue_view(session, settings).senders[delivery.contact_id]


def _expected(name):
    return {"compose": name, "board": [name], "dry_run": [name], "queue": name}


PATHS = {"compose": _compose, "board": _board, "dry_run": _dry_run, "queue": _queue}


def _scene(factory, session, settings, situation):
    tag = factory.tag(rule=RULE, lead_days=0)
    offer = factory.offer(tag=tag, year=YEAR)
    offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
    owner = factory.advisor(name="Анна Соколова")
    heir = factory.advisor(name="Борис Наследников")
    admin = factory.advisor(name="Админ", role=Role.ADMIN)
    house = None
    if situation != "no house advisor":
        house = factory.house_advisor(active=situation != "house advisor inactive")
    contact = factory.contact(owner=owner, tags=[tag])
    delivery = Delivery(offer=offer, contact=contact, status=DeliveryStatus.PLANNED, send_on=DAY)
    session.add(delivery)
    session.flush()
    pacing.pace_day(session, DAY, settings, now=datetime(YEAR, 6, 15, 5, tzinfo=UTC))  # fixes advisor_id
    if situation == "deactivated with an heir":
        ownership.deactivate_advisor(session, admin, owner, heir)
    elif situation != "owner active":
        session.execute(Advisor.__table__.update().where(Advisor.id == owner.id).values(active=False))
    session.flush()
    session.expire_all()
    expected = {
        "owner active": "Анна Соколова",
        "deactivated with an heir": "Борис Наследников",
        "owner inactive": house.name if house else None,
        "no house advisor": NO_SENDER_LABEL,
        "house advisor inactive": NO_SENDER_LABEL,
    }[situation]
    return session.get(Delivery, delivery.id), expected


SITUATIONS = ["owner active", "deactivated with an heir", "owner inactive", "no house advisor", "house advisor inactive"]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_path_names_the_same_sender(session, factory, settings, path, situation):
    delivery, expected = _scene(factory, session, settings, situation)
    if path == "dry_run":
        session.execute(Delivery.__table__.delete())  # the dry run counts what planning would add
    assert PATHS[path](session, settings, delivery) == _expected(expected)[path]


def test_nobody_to_send_from_says_what_to_do(session, factory):
    contact = factory.contact(owner=factory.advisor(active=False))
    with pytest.raises(NoSender, match="Назначьте контакту советника"):
        sender_for(session, contact)


def test_the_queue_page_shows_the_heir_after_deactivation(client, session, factory, settings):
    delivery, _ = _scene(factory, session, settings, "deactivated with an heir")
    admin = session.scalar(select(Advisor).where(Advisor.role == Role.ADMIN))
    session.commit()
    client.login(admin)
    page = client.get("/queue").get_data(as_text=True)
    planned = page.split("<h2>Запланировано</h2>")[1].split("</table>")[0]
    assert "Борис Наследников" in planned and "Анна Соколова" not in planned
