"""advisors: one account per address whatever its case (a unique index on lower(email))

Accounts used to be created with the address as typed, so «Anna@x.ru» could sit beside
«anna@x.ru». Log-in already matched case-insensitively and took one of them, so the other
could not be reached. This revision keeps the oldest account of each such group on the
address (lower-cased, as accounts.create_user now stores every address) and moves each later
one to «local+duplicateID@domain», keeping its password, role and contacts: the admin can
see it in the users list, rename it or deactivate it with an heir. Then every address is
lower-cased and the index makes the rule the database's own.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email FROM advisors ORDER BY id")).all()
    keepers: dict[str, int] = {}
    renamed: list[tuple[int, str]] = []
    lowered: list[tuple[int, str]] = []
    for user_id, email in rows:
        key = email.strip().lower()
        if key in keepers:
            local, _, domain = key.rpartition("@")
            renamed.append((user_id, f"{local}+duplicate{user_id}@{domain}"))
            log.warning("advisor %s: %s is also account %s; moved to %s", user_id, email, keepers[key], renamed[-1][1])
        else:
            keepers[key] = user_id
            if key != email:
                lowered.append((user_id, key))
    # The later accounts first: a keeper's lower-cased address may be one of them as typed.
    for user_id, email in renamed + lowered:
        bind.execute(sa.text("UPDATE advisors SET email = :email WHERE id = :id"), {"email": email, "id": user_id})
    op.create_index("uq_advisors_email_lower", "advisors", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_advisors_email_lower", table_name="advisors")
