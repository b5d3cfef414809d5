"""owner_counts: each owner's live (not archived) contacts, kept by triggers on contacts

The start page of marketing and admin counted all 980,000 live contacts, and the users page
grouped them by owner, on every request (0.8–2.5 s at a million contacts). Now one row per owner
holds the count; triggers on contacts keep it as contacts are created (the form, the import's
COPY), archived and restored, handed over or deleted (an erasure). PostgreSQL: statement-level
triggers with transition tables, owners locked in key order; SQLite: row-level triggers.

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

RECOUNT = ("INSERT INTO owner_counts (owner_id, live_contacts)"
           " SELECT owner_id, count(*) FROM contacts WHERE archived_at IS NULL GROUP BY owner_id")


def _pg_upsert(select: str) -> str:
    return ("INSERT INTO owner_counts AS o (owner_id, live_contacts)"
            f" SELECT owner_id, sum(n) FROM ({select}) x GROUP BY owner_id HAVING sum(n) <> 0 ORDER BY owner_id"
            " ON CONFLICT (owner_id) DO UPDATE SET live_contacts = o.live_contacts + excluded.live_contacts;")


LIVE_NEW = "SELECT owner_id, 1 AS n FROM new_rows WHERE archived_at IS NULL"
LIVE_OLD = "SELECT owner_id, -1 AS n FROM old_rows WHERE archived_at IS NULL"
PG = {
    "owner_counts_insert": ("INSERT", "REFERENCING NEW TABLE AS new_rows", _pg_upsert(LIVE_NEW)),
    "owner_counts_delete": ("DELETE", "REFERENCING OLD TABLE AS old_rows", _pg_upsert(LIVE_OLD)),
    # Only rows whose owner or archived state changed: an edit of a name costs one join of one row.
    "owner_counts_update": (
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _pg_upsert(
            "SELECT o.owner_id, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id"
            " WHERE o.archived_at IS NULL AND (w.owner_id <> o.owner_id OR w.archived_at IS NOT NULL)"
            " UNION ALL SELECT w.owner_id, 1 FROM old_rows o JOIN new_rows w ON w.id = o.id"
            " WHERE w.archived_at IS NULL AND (w.owner_id <> o.owner_id OR o.archived_at IS NOT NULL)"
        ),
    ),
}


def _lite_add(row: str, sign: str) -> str:
    return (f"INSERT OR IGNORE INTO owner_counts (owner_id, live_contacts) VALUES ({row}.owner_id, 0);\n"
            f"UPDATE owner_counts SET live_contacts = live_contacts {sign} 1 WHERE owner_id = {row}.owner_id;")


SQLITE = {
    "owner_counts_insert": ("AFTER INSERT ON contacts WHEN NEW.archived_at IS NULL", _lite_add("NEW", "+")),
    "owner_counts_delete": ("AFTER DELETE ON contacts WHEN OLD.archived_at IS NULL", _lite_add("OLD", "-")),
    "owner_counts_leave": (
        "AFTER UPDATE OF owner_id, archived_at ON contacts WHEN OLD.archived_at IS NULL"
        " AND (NEW.owner_id <> OLD.owner_id OR NEW.archived_at IS NOT NULL)",
        _lite_add("OLD", "-"),
    ),
    "owner_counts_enter": (
        "AFTER UPDATE OF owner_id, archived_at ON contacts WHEN NEW.archived_at IS NULL"
        " AND (NEW.owner_id <> OLD.owner_id OR OLD.archived_at IS NOT NULL)",
        _lite_add("NEW", "+"),
    ),
}


def upgrade() -> None:
    op.create_table(
        "owner_counts",
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("live_contacts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(RECOUNT)
    if op.get_bind().dialect.name == "postgresql":
        for name, (event, referencing, body) in PG.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN {body} RETURN NULL; END $fn$")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON contacts {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    else:
        for name, (when, body) in SQLITE.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN\n{body}\nEND")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON contacts")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("owner_counts")
