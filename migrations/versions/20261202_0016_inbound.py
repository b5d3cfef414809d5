"""inbound_messages, advisor_mailboxes: mail that comes back (#16)

Each message read from the system mailbox (bounces, mailto unsubscribes, complaints) or an
advisor's mailbox (replies) is recorded once under a unique (mailbox, message_key); advisors'
mailboxes for replies, the password encrypted.

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaigns.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=40), nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("uid", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sender", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("received_at", campaigns.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name=op.f("fk_inbound_messages_advisor_id_advisors"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_inbound_messages_contact_id_contacts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"],
                                name=op.f("fk_inbound_messages_delivery_id_deliveries"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("mailbox", "message_key", name=op.f("uq_inbound_messages_mailbox_message_key")),
    )
    op.create_index("ix_inbound_messages_kind_received_at", "inbound_messages", ["kind", "received_at"])
    op.create_index("ix_inbound_messages_contact_id", "inbound_messages", ["contact_id"])
    op.create_table(
        "advisor_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("tls", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("connected_at", campaigns.db.UTCDateTime(), nullable=False),
        sa.Column("checked_at", campaigns.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name=op.f("fk_advisor_mailboxes_advisor_id_advisors"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_mailboxes")),
        sa.UniqueConstraint("advisor_id", name=op.f("uq_advisor_mailboxes_advisor_id")),
    )


def downgrade() -> None:
    op.drop_table("advisor_mailboxes")
    op.drop_index("ix_inbound_messages_contact_id", table_name="inbound_messages")
    op.drop_index("ix_inbound_messages_kind_received_at", table_name="inbound_messages")
    op.drop_table("inbound_messages")
