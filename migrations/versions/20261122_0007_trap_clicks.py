"""trap clicks and the hot-list indexes

Clicks on the hidden trap link have no link row: clicks.link_id becomes nullable. The hot
list reads two covering indexes (bench/hotlist_bench.py: p95 450 → 100 ms at 1 M contacts
and 10 M clicks): an owner's live contacts, and a contact's human clicks with the link.

Revision ID: 0007
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.alter_column("link_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index("ix_clicks_contact_id_verdict_clicked_at_link_id",
                              ["contact_id", "verdict", "clicked_at", "link_id"], unique=False)
        batch_op.drop_index("ix_clicks_contact_id_verdict_clicked_at")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_owner_id_hot", ["owner_id", "id", "hot_handled_at"], unique=False,
                              sqlite_where=sa.text("archived_at IS NULL"), postgresql_where=sa.text("archived_at IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_owner_id_hot", sqlite_where=sa.text("archived_at IS NULL"),
                            postgresql_where=sa.text("archived_at IS NULL"))
    # Trap clicks cannot name a link; they are scanner noise, so they go.
    op.execute("DELETE FROM clicks WHERE link_id IS NULL")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index("ix_clicks_contact_id_verdict_clicked_at", ["contact_id", "verdict", "clicked_at"], unique=False)
        batch_op.drop_index("ix_clicks_contact_id_verdict_clicked_at_link_id")
        batch_op.alter_column("link_id", existing_type=sa.Integer(), nullable=False)
