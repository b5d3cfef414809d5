"""Who may be mailed: the board, the planner and the re-check before sending apply one rule (audience.py)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from campaigns import audience
from campaigns.db import utcnow
from campaigns.models import Delivery, DeliveryStatus
from tests.scenes import AUDIENCE_DAY, AUDIENCE_PATHS, audience_scene, audience_sent

YEAR = 2026

# (state, contact fields, may be mailed)
STATES = [
    ("live", {}, True),
    ("unsubscribed", {"unsubscribed_at": utcnow()}, False),
    ("archived", {"archived_at": utcnow()}, False),
    ("no address", {"email": None}, False),
    ("empty address", {"email": ""}, False),
    ("suppressed", {"email": "blocked@client.example.com"}, False),
]


@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
@pytest.mark.parametrize("state, fields, expected", STATES, ids=[s[0] for s in STATES])
def test_every_path_applies_the_same_audience(session, factory, settings, path, state, fields, expected):
    tag, offer, contact = audience_scene(factory, session, fields)
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is expected


@pytest.mark.parametrize("state, fields, expected", STATES[1:], ids=[s[0] for s in STATES[1:]])
def test_the_refusal_is_noted_in_russian(session, factory, settings, state, fields, expected):
    tag, offer, contact = audience_scene(factory, session, fields)
    assert not audience_sent(session, settings, tag, offer, contact)
    cancelled = session.scalar(select(Delivery).where(Delivery.contact_id == contact.id))
    assert cancelled.status == DeliveryStatus.CANCELLED
    assert cancelled.last_error and cancelled.last_error[0].isalpha() and not cancelled.last_error.isascii()


def test_reasons_are_reported_in_order():
    assert audience.reason_text(None) is None
    assert audience.reason_text("suppressed", "a@b.ru") == "адрес a@b.ru в стоп-листе"
    assert date(YEAR, 6, 15) == AUDIENCE_DAY
