"""contacts.search_key: one normalised search column, served by a pg_trgm GIN index on PostgreSQL

Search compared seven columns in several letter cases with ILIKE '%…%', a sequential scan of
every contact (2.6–6.5 s at a million). Now each contact carries its fields as search.py
normalises them (е/ё alike, Latin and Cyrillic spellings alike, no case, no punctuation), and a
query is one LIKE per word on that column. PostgreSQL gets the pg_trgm extension and a GIN
index for those LIKEs; SQLite keeps scanning (an ordinary index of the same name keeps the
models and the migrations in agreement).

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from campaigns import search

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_contacts_search_key_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("search_key", sa.Text(), nullable=False, server_default=sa.text("''")))
    search.backfill(bind)
    if bind.dialect.name == "postgresql":
        # Extensions belong to the whole database, not to a schema's tables: two schemas migrating at
        # once (parallel test runs) must not both create it, and it goes where every schema can see it.
        bind.execute(sa.text("SELECT pg_advisory_xact_lock(20261202014)"))
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        schema = bind.scalar(sa.text(
            "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"))
        op.execute(f"CREATE INDEX {INDEX} ON contacts USING gin (search_key {schema}.gin_trgm_ops)")
    else:
        op.create_index(INDEX, "contacts", ["search_key"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("search_key")
