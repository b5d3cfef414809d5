"""The hostile-input suite: what an attacker (or a careless file) sends, and what must hold
(hostile.py). Fixtures: one user of each role and a little data to aim at."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from campaigns.models import Role


@dataclass
class World:
    """One user of each role, a tag, an offer and a contact; ids for URLs that need them."""

    admin: object
    marketing: object
    advisor: object
    contact_id: int
    offer_id: int
    tag_id: int

    def user(self, role: Role):
        return {Role.ADMIN: self.admin, Role.MARKETING: self.marketing, Role.ADVISOR: self.advisor}[role]


@pytest.fixture
def world(factory, session) -> World:
    advisor = factory.advisor()
    tag = factory.tag("Строители")
    contact = factory.contact(owner=advisor, tags=[tag])
    offer = factory.offer(tag=tag)
    world = World(admin=factory.advisor(role=Role.ADMIN), marketing=factory.advisor(role=Role.MARKETING),
                  advisor=advisor, contact_id=contact.id, offer_id=offer.id, tag_id=tag.id)
    session.commit()
    return world
