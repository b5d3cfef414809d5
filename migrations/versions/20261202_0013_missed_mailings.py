"""missed_mailings: no yearly mailing is missed in silence

A mailing whose window closed before all its mails went out (no offer, a draft, mails rolled
or held past the last day) is recorded once per tag and year, with its audience; the board,
the calendar and the results show it, and marketing and admin are told once (sent_notices).

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaigns.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "missed_mailings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("send_on", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("offer_status", sa.String(length=20), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("mails", sa.Integer(), nullable=False),
        sa.Column("recorded_at", campaigns.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_missed_mailings_offer_id_offers"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_missed_mailings_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missed_mailings")),
        sa.UniqueConstraint("tag_id", "year", name=op.f("uq_missed_mailings_tag_id_year")),
    )


def downgrade() -> None:
    op.drop_table("missed_mailings")
