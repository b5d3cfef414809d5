"""Running a real team (#17): whom the house advisor's clicks reach, each advisor's own hours
and time zone, the next call's time and topic, erased contacts (152-FZ)

- advisors.watches_house: this user gets the house advisor's hot contacts (hot list, digest)
- advisors.work_hours ("09:30-18:00") and advisors.timezone ("Asia/Yekaterinburg"): NULL means
  the global WORK_HOURS / TIMEZONE
- contacts.next_contact_time, contacts.next_contact_topic: the planned call's time and topic
- contacts.erased_at: the person's data was erased; only anonymous counts remain
- campaigns_address_hash(text) on PostgreSQL: the stop list keeps an erased person's address
  only as this hash (db.address_hash; SQLite gets the function at connect)

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaigns.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = {
    "advisors": ("watches_house", "work_hours", "timezone"),
    "contacts": ("next_contact_time", "next_contact_topic", "erased_at"),
}


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch re-creates the table and would lose the
    # expression index uq_advisors_email_lower.
    op.add_column("advisors", sa.Column("watches_house", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.add_column("advisors", sa.Column("work_hours", sa.String(11), nullable=True))
    op.add_column("advisors", sa.Column("timezone", sa.String(64), nullable=True))
    op.add_column("contacts", sa.Column("next_contact_time", sa.Time(), nullable=True))
    op.add_column("contacts", sa.Column("next_contact_topic", sa.String(300), nullable=False, server_default=""))
    op.add_column("contacts", sa.Column("erased_at", campaigns.db.UTCDateTime(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION campaigns_address_hash(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
                   "AS $$ SELECT 'sha256:' || encode(sha256(convert_to(lower(btrim($1)), 'UTF8')), 'hex') $$")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS campaigns_address_hash(text)")
    for table, columns in _COLUMNS.items():
        for column in columns:
            if sqlite:
                op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite ≥ 3.35
            else:
                op.drop_column(table, column)
