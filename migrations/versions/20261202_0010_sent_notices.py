"""sent_notices: the digest and the late-offer notice go once a day, remembered by the database

They used to be kept from going twice by Redis keys, and a Redis flush sent them again.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from campaigns.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notices")),
        sa.UniqueConstraint("kind", "ref_id", "day", name=op.f("uq_sent_notices_kind_ref_id_day")),
    )


def downgrade() -> None:
    op.drop_table("sent_notices")
