"""missed_mailings and mailing_notices: no yearly mailing is missed in silence

A mailing whose window closed before all its mails went out (no offer, a draft, mails rolled
or held past the last day) is recorded once per tag and year; notices to marketing and admin
(reminders before the send date, «ждёт предложения», «пропущено») are recorded so that each
goes once whatever Redis loses.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaigns.db

revision = "0009"
down_revision = "0008"
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
    op.create_table(
        "mailing_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent_at", campaigns.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_mailing_notices_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_notices")),
        sa.UniqueConstraint("tag_id", "year", "kind", name=op.f("uq_mailing_notices_tag_id_year_kind")),
    )


def downgrade() -> None:
    op.drop_table("mailing_notices")
    op.drop_table("missed_mailings")
