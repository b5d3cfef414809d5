"""advisors.session_key: every session and remember-me cookie carries it; a new one ends them all

Before, a session or a remember cookie held only the user id (the cookie `id|HMAC(id)`, the same at
every log-in): a log-out ended nothing on other devices, and a stolen cookie worked for a year.
Now both carry the user's session key; log-out, a password change and deactivation replace it.
Existing users get a random key, so every session from before the upgrade ends once.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch (on SQLite a batch re-creates the table and would lose the
    # expression index uq_advisors_email_lower). Nullable: a user added by hand in SQL gets a key at log-in.
    op.add_column("advisors", sa.Column("session_key", sa.String(64), nullable=True))
    bind = op.get_bind()
    advisors = sa.table("advisors", sa.column("id", sa.Integer), sa.column("session_key", sa.String))
    for (advisor_id,) in bind.execute(sa.select(advisors.c.id)).all():  # a few hundred users at most
        bind.execute(advisors.update().where(advisors.c.id == advisor_id).values(session_key=secrets.token_urlsafe(24)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE advisors DROP COLUMN session_key")  # SQLite ≥ 3.35; keeps the other indexes
    else:
        op.drop_column("advisors", "session_key")
