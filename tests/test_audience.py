"""Who may be mailed: the board, the planner and the re-check before sending apply one rule (audience.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from campaigns import audience, calendar, planner, sending
from campaigns.board import readiness_board
from campaigns.db import utcnow
from campaigns.models import Delivery, DeliveryStatus, Link, Suppression, SuppressionReason

YEAR = 2026
RULE = "15 jun"
DAY = calendar.send_date(RULE, 0, YEAR)

# (state, contact fields, may be mailed)
STATES = [
    ("live", {}, True),
    ("unsubscribed", {"unsubscribed_at": utcnow()}, False),
    ("archived", {"archived_at": utcnow()}, False),
    ("no address", {"email": None}, False),
    ("empty address", {"email": ""}, False),
    ("suppressed", {"email": "blocked@client.example.com"}, False),
]


def _scene(factory, session, fields):
    tag = factory.tag(rule=RULE, lead_days=0)
    offer = factory.offer(tag=tag, year=YEAR)
    offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
    contact = factory.contact(owner=factory.advisor(), tags=[tag], **fields)
    if contact.email == "blocked@client.example.com":
        session.add(Suppression(email=contact.email, reason=SuppressionReason.BOUNCE))
    session.flush()
    return tag, offer, contact


def _board(session, settings, tag, offer, contact):
    rows = readiness_board(session, settings, DAY - timedelta(days=5))
    return next(row for row in rows if row.tag.id == tag.id).audience == 1


def _planner(session, settings, tag, offer, contact):
    planner.plan_day(session, DAY, settings)
    return session.scalar(select(Delivery.id).where(Delivery.contact_id == contact.id)) is not None


def _sending(session, settings, tag, offer, contact):
    # Planned while it could be mailed; the contact's state is the one found at the claim.
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.PLANNED, send_on=DAY, send_at=utcnow() - timedelta(minutes=1)
    )
    session.add(delivery)
    session.commit()
    result = sending.send_delivery(session, delivery.id, settings, rate_limit=False)
    return result.outcome == sending.Outcome.SENT


def _query(session, settings, tag, offer, contact):
    return session.scalars(audience.tag_audience(tag.id)).all() == [contact.id]


PATHS = {"board": _board, "planner": _planner, "sending": _sending, "query": _query}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("state, fields, expected", STATES, ids=[s[0] for s in STATES])
def test_every_path_applies_the_same_audience(session, factory, settings, path, state, fields, expected):
    tag, offer, contact = _scene(factory, session, fields)
    assert PATHS[path](session, settings, tag, offer, contact) is expected


@pytest.mark.parametrize("state, fields, expected", STATES[1:], ids=[s[0] for s in STATES[1:]])
def test_the_refusal_is_noted_in_russian(session, factory, settings, state, fields, expected):
    tag, offer, contact = _scene(factory, session, fields)
    assert not _sending(session, settings, tag, offer, contact)
    cancelled = session.scalar(select(Delivery).where(Delivery.contact_id == contact.id))
    assert cancelled.status == DeliveryStatus.CANCELLED
    assert cancelled.last_error and cancelled.last_error[0].isalpha() and not cancelled.last_error.isascii()


def test_reasons_are_reported_in_order():
    assert audience.reason_text(None) is None
    assert audience.reason_text("suppressed", "a@b.ru") == "адрес a@b.ru в стоп-листе"
    assert date(YEAR, 6, 15) == DAY
