"""contacts.search_key: the phone's digits as they are

search.contact_key passed the phone's digits through the same normalisation as the names, whose
spelling rules merge a doubled letter; they merged a doubled digit too, so +7 916 000-11-22 was
kept as 7916012 and a search for any part of the number with a repeated digit found nothing (a
phone query matches plain digits). The key now ends with the digits unchanged; the stored keys
are written again (search.backfill writes only those that differ: contacts whose phone has a
doubled digit).

Revision ID: 0030
Revises: 0029
"""
from __future__ import annotations

from alembic import op

from campaigns import search

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    search.backfill(op.get_bind())


def downgrade() -> None:
    pass  # the older key only missed phones; the current one serves the older code's queries as well
