"""tags.contacts_count: how many contacts carry each tag, kept by triggers on contact_tags

The tags page counted 2.8 million (contact, tag) pairs on every request (0.4 s at a million
contacts). Now each tag carries its count; triggers on contact_tags add and take away as pairs
are written by any writer (the card's form, the import's bulk insert, a cascade). PostgreSQL:
statement-level triggers with transition tables (one UPDATE per statement); SQLite: row-level.

Revision ID: 0020
Revises: 0019
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PG = {
    "INSERT": ("NEW TABLE AS new_rows", "new_rows", "+"),
    "DELETE": ("OLD TABLE AS old_rows", "old_rows", "-"),
}


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("contacts_count", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute("UPDATE tags SET contacts_count = (SELECT count(*) FROM contact_tags WHERE contact_tags.tag_id = tags.id)")
    if op.get_bind().dialect.name == "postgresql":
        for event, (referencing, rows, sign) in PG.items():
            name = f"tag_counts_{event.lower()}"
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN"
                       f" UPDATE tags SET contacts_count = tags.contacts_count {sign} n.pairs"
                       f" FROM (SELECT tag_id, count(*) AS pairs FROM {rows} GROUP BY tag_id) n WHERE tags.id = n.tag_id;"
                       " RETURN NULL; END $fn$")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON contact_tags REFERENCING {referencing}"
                       f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    else:
        op.execute("CREATE TRIGGER tag_counts_insert AFTER INSERT ON contact_tags BEGIN"
                   " UPDATE tags SET contacts_count = contacts_count + 1 WHERE id = NEW.tag_id; END")
        op.execute("CREATE TRIGGER tag_counts_delete AFTER DELETE ON contact_tags BEGIN"
                   " UPDATE tags SET contacts_count = contacts_count - 1 WHERE id = OLD.tag_id; END")


def downgrade() -> None:
    for event in PG:
        name = f"tag_counts_{event.lower()}"
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON contact_tags")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("contacts_count")
