"""deliveries: one index fewer and result-count triggers without JIT

Planning a day writes ≈ 330,000 deliveries at a million contacts (bench/plan_bench.py), and every
row pays for each index of the table:

- ix_deliveries_advisor_id_send_on goes: no query reads deliveries by their sender (pacing and
  the results group by it over a day's or an offer's mails, found by other indexes), and advisors
  are never deleted while they have contacts. Each new delivery added an entry to it.
- PostgreSQL: the statement-level triggers of 0018 on inserting and deleting deliveries plan their
  statement over transition tables, which have no statistics; a few thousand rows already cost
  above JIT's thresholds (compiling took 0.67 s of a 0.82 s run of 0018's update trigger over
  10,000 rows, before 0028 made that one row-level). They run without JIT now. The insert trigger
  joins the new rows to the contacts for their owner: with work_mem of its own it hashes a million
  contacts in memory (8 batches on disk with the default 4 MB; 1.29 s → 0.95 s for 330,000 rows).

Revision ID: 0029
Revises: 0028
"""
from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

NO_JIT = ("result_counts_deliveries_insert", "result_counts_deliveries_delete")
INSERT_WORK_MEM = "64MB"


def upgrade() -> None:
    op.drop_index("ix_deliveries_advisor_id_send_on", table_name="deliveries")
    if op.get_bind().dialect.name == "postgresql":
        for name in NO_JIT:
            op.execute(f"ALTER FUNCTION {name}() SET jit = off")
        op.execute(f"ALTER FUNCTION result_counts_deliveries_insert() SET work_mem = '{INSERT_WORK_MEM}'")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in NO_JIT:
            op.execute(f"ALTER FUNCTION {name}() RESET ALL")
    op.create_index("ix_deliveries_advisor_id_send_on", "deliveries", ["advisor_id", "send_on"])
