"""board_counts: the readiness board's audience counts, refreshed by the scheduler

At a million contacts the board joined 2.8 million (contact, tag) pairs to the contacts and
their owners on every request (10–18 s). board.refresh_counts() now writes the counts per tag ×
sender, the «Здравствуйте!!» greetings and the missing consents here every 10 minutes, from the
same audience.py condition the planner uses; above board.LIVE_LIMIT contacts the board reads
these rows and shows their age.

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from campaigns.db import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_counts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("tag_id", sa.Integer(), sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("counted_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("board_counts")
