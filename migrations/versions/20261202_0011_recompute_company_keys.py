"""contacts.company_key: recompute every stored key with contact_fields.company_key

Some rows carried keys of an older format («касперский kaspersky» instead of «|kasperski|»),
written by code that made its own key; the duplicate check could not find them. The key now
has one author (the Contact model derives it on every write), and this revision brings every
stored row to it. Whenever company_key() changes, a new revision like this one follows.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from campaigns.contact_fields import company_key

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    bind = op.get_bind()
    contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("company", sa.String),
                        sa.column("company_alias", sa.String), sa.column("company_key", sa.String))
    last = 0
    while True:  # keyset batches: a million contacts never sit in memory at once
        rows = bind.execute(
            sa.select(contacts.c.id, contacts.c.company, contacts.c.company_alias, contacts.c.company_key)
            .where(contacts.c.id > last).order_by(contacts.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        changed = [{"row_id": row.id, "key": key} for row in rows
                   if (key := company_key(row.company, row.company_alias)) != row.company_key]
        if changed:
            bind.execute(contacts.update().where(contacts.c.id == sa.bindparam("row_id"))
                         .values(company_key=sa.bindparam("key")), changed)
        last = rows[-1].id


def downgrade() -> None:
    pass  # the recomputed keys are right for every older revision too
