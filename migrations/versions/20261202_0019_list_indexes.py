"""Indexes for the lists that sorted or counted whole tables at a million contacts

- contacts (updated_at, id) of live contacts: the contacts list of marketing and admin walks it
  from a cursor (keyset pagination) instead of sorting 980,000 rows for an OFFSET;
- deliveries (sent_at) of sent mails: the queue's «sent today» (the old index is on send_at);
- deliveries (status, send_on, send_at, id): the queue's planned list in its order, without
  sorting 317,000 planned rows.

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_updated_at_id_live", "contacts", ["updated_at", "id"],
                    sqlite_where=sa.text("archived_at IS NULL"), postgresql_where=sa.text("archived_at IS NULL"))
    op.create_index("ix_deliveries_sent_at_sent", "deliveries", ["sent_at"],
                    sqlite_where=sa.text("status = 'sent'"), postgresql_where=sa.text("status = 'sent'"))
    op.create_index("ix_deliveries_status_send_on_send_at_id", "deliveries", ["status", "send_on", "send_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_status_send_on_send_at_id", table_name="deliveries")
    op.drop_index("ix_deliveries_sent_at_sent", table_name="deliveries")
    op.drop_index("ix_contacts_updated_at_id_live", table_name="contacts")
