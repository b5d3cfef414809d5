"""The hostile-input suite: what an attacker (or a careless file) sends, and what must hold
(hostile.py, with World). Fixtures: one user of each role and a little data to aim at."""

from __future__ import annotations

import pytest
from hostile import World

from campaigns.models import Role


@pytest.fixture
def world(factory, session) -> World:
    advisor = factory.advisor()
    tag = factory.tag("Строители")
    contact = factory.contact(owner=advisor, tags=[tag])
    offer = factory.offer(tag=tag)
    world = World(
        admin=factory.advisor(role=Role.ADMIN),
        marketing=factory.advisor(role=Role.MARKETING),
        advisor=advisor,
        contact_id=contact.id,
        offer_id=offer.id,
        tag_id=tag.id,
    )
    session.commit()
    return world
