"""The stop list holds an erased person's address as itself wherever a contact holds it again

An erasure leaves the address on the stop list only as a hash (keyed "hmac:…", or the old plain
"sha256:…"). The audience used to compute both hashes for every contact in every statement to
catch an erased person added again (≈ 250 ms per million contacts on PostgreSQL). Now the hash is
checked once, where an address enters the contacts (consent.stop_erased), and the audience matches
plain addresses only. This revision does the same for the contacts already there: each address a
contact holds whose hash is on the stop list goes on it as itself (reason «manual», the same
detail consent.stop_erased writes).

The keyed form needs SECRET_KEY: the app passes it (migrate.upgrade: `flask campaigns migrate`,
./run), and a bare `alembic upgrade` reads it from the settings as it reads the database URL
(migrations/env.py). Without it the plain SHA-256 forms are still handled; if the stop list holds
keyed hashes, the upgrade stops and says how to run it, rather than leave erased people mailable.
Nothing to undo on downgrade: the plain entries are what the hashes meant.

Revision ID: 0025
Revises: 0024
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import campaigns.db

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

DETAIL = "данные этого человека удалены по его требованию (152-ФЗ), адрес снова внесён в контакты: рассылок на него не будет"

contacts = sa.table("contacts", sa.column("email", sa.String))
suppressions = sa.table(
    "suppressions",
    sa.column("email", sa.String),
    sa.column("reason", sa.String),
    sa.column("detail", sa.Text),
    sa.column("created_at", campaigns.db.UTCDateTime()),
)


def _has(bind, prefix: str) -> bool:
    return bind.scalar(sa.select(suppressions.c.email).where(suppressions.c.email.like(prefix + "%")).limit(1)) is not None


def upgrade() -> None:
    bind = op.get_bind()
    keyed, legacy = _has(bind, "hmac:"), _has(bind, "sha256:")
    if not (keyed or legacy):
        return  # no erasure yet: nothing to match (a new database, most installations)
    secret_key = context.config.attributes.get("secret_key")
    if keyed and not secret_key:
        raise RuntimeError(
            "migration 0025 needs SECRET_KEY to find erased people added again: "
            "run `flask --app wsgi campaigns migrate` (or ./run) with the app's settings"
        )
    forms = [sa.func.campaigns_address_hash(contacts.c.email)]
    if keyed:
        forms.append(campaigns.db.keyed_hash_sql(contacts.c.email, secret_key))
    erased = suppressions.alias("erased")
    plain = suppressions.alias("plain")
    now = datetime.now(UTC)
    rows = (
        sa.select(
            contacts.c.email,
            sa.literal("manual"),
            sa.literal(DETAIL),
            sa.literal(now, campaigns.db.UTCDateTime()),
        )
        .distinct()
        .where(
            contacts.c.email.is_not(None),
            contacts.c.email != "",
            sa.exists().where(erased.c.email.in_(forms)),
            ~sa.exists().where(plain.c.email == contacts.c.email),
        )
    )
    bind.execute(sa.insert(suppressions).from_select(["email", "reason", "detail", "created_at"], rows))


def downgrade() -> None:
    pass
