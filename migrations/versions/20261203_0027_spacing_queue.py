"""spacing_queue: the contacts whose mail changed in a way that may break the spacing

The planner spaces a contact's offers TAG_SPACING_DAYS apart. Its statement read every mail of
the day (330,000 at a million contacts) on each run, every 10 minutes, to find nothing new. Now
a trigger on deliveries notes the contact whenever a mail becomes one that counts for spacing,
or one that counts changes its day or becomes movable (pacing's roll-over, a release, the claim's
own spacing move, a retry, a mail given back as held); the planner takes the queue (DELETE …
RETURNING, so a change committed meanwhile waits for the next run) and spaces those contacts and
the ones it has just planned, and nobody else. The rules below are spacing.OCCUPYING and
«movable» (planned or held, no moment yet), frozen here as the migration's own copy.

Revision ID: 0027
Revises: 0026
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

NAME = "spacing_queue_update"
OCCUPYING = "('planned', 'held', 'queued', 'sending', 'retrying', 'sent', 'unknown')"


def _movable(row: str) -> str:
    return f"({row}.status IN ('planned', 'held') AND {row}.send_at IS NULL)"


# The new row counts for spacing, and it did not before, or its day changed, or it became movable.
WHEN = (
    f"NEW.status IN {OCCUPYING} AND (OLD.status NOT IN {OCCUPYING} OR NEW.send_on <> OLD.send_on"
    f" OR ({_movable('NEW')} AND NOT {_movable('OLD')}))"
)
INSERT = "INSERT INTO spacing_queue (contact_id) VALUES (NEW.contact_id)"


def upgrade() -> None:
    op.create_table(
        "spacing_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spacing_queue")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN {INSERT}; RETURN NULL; END $fn$")
        op.execute(f"CREATE TRIGGER {NAME} AFTER UPDATE ON deliveries FOR EACH ROW WHEN ({WHEN}) EXECUTE FUNCTION {NAME}()")
    else:
        op.execute(f"CREATE TRIGGER {NAME} AFTER UPDATE ON deliveries FOR EACH ROW WHEN {WHEN} BEGIN {INSERT}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON deliveries")
        op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {NAME}")
    op.drop_table("spacing_queue")
