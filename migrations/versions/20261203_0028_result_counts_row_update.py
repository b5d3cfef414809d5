"""result_counts on PostgreSQL: an update of deliveries that changes no count costs nothing

0018's trigger on UPDATE of deliveries ran once per statement with transition tables, so every
update paid for it: collecting the old and new rows, calling the function, running its query
to find that nothing counted had changed. The sender's claim (queued → sending), the dispatch,
the reconciler, pacing and spacing change no count, yet paid ≈ 0.6 ms of server time each (the
claim once per mail). Now it is a row-level trigger whose WHEN clause (the same test as 0018's
and as the SQLite trigger's: sent or failed entered or left, the advisor, the offer or the
contact changed) PostgreSQL evaluates itself: an update that changes no count never calls the
function and collects nothing. A row that does change a count takes its old values away and
adds its new ones in one upsert that locks its at most two result_counts rows in key order.

Writers that change counts update one delivery a statement (the SENT, FAILED and retry records,
pacing's assignment of the advisor, a person's decision on the queue page); a bulk update that
changes counts (a hand edit in psql) stays correct, one upsert per changed row.

SQLite already had a row-level trigger with this WHEN (0018): nothing changes there.

Revision ID: 0028
Revises: 0027
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

NAME = "result_counts_deliveries_update"
COUNTS = ("planned", "sent", "failed", "human_clicks", "bot_clicks", "clickers", "unsubscribes")
KEY = "offer_id, advisor_id"

# The same test as 0018's _CHANGED and _LITE_CHANGED, on the row's old and new values.
WHEN = (
    "(OLD.status = 'sent') <> (NEW.status = 'sent') OR (OLD.status = 'failed') <> (NEW.status = 'failed')"
    " OR OLD.advisor_id IS DISTINCT FROM NEW.advisor_id OR OLD.offer_id <> NEW.offer_id"
    " OR OLD.contact_id <> NEW.contact_id"
)


def _vector(row: str, sign: str) -> str:
    """The row's counts (its key, then COUNTS) with `sign`; its clicks and unsubscribe as they are now."""
    return (
        f"SELECT {row}.offer_id, c.owner_id_or_sender, {sign}1, {sign}({row}.status = 'sent')::int,"
        f" {sign}({row}.status = 'failed')::int, {sign}k.human, {sign}k.bot, {sign}(k.human > 0)::int,"
        f" {sign}(EXISTS (SELECT 1 FROM notes WHERE delivery_id = {row}.id AND kind = 'unsubscribe'))::int"
        f" FROM (SELECT coalesce({row}.advisor_id, owner_id) AS owner_id_or_sender FROM contacts"
        f" WHERE id = {row}.contact_id) c,"
        " (SELECT count(*) FILTER (WHERE verdict = 'human') AS human, count(*) FILTER (WHERE verdict = 'bot') AS bot"
        f" FROM clicks WHERE delivery_id = {row}.id) k"
    )


BODY = (
    f"INSERT INTO result_counts AS r ({KEY}, {', '.join(COUNTS)})"
    f" SELECT {KEY}, {', '.join(f'sum({c})' for c in COUNTS)}"
    f" FROM (({_vector('OLD', '-')}) UNION ALL ({_vector('NEW', '')})) AS parts ({KEY}, {', '.join(COUNTS)})"
    " GROUP BY 1, 2 ORDER BY 1, 2"
    f" ON CONFLICT ({KEY}) DO UPDATE SET " + ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTS)
)


def _revision_0018():
    """0018's own definitions, to put its statement-level trigger back on the way down."""
    path = next(Path(__file__).parent.glob("*_0018_result_counts.py"))
    spec = importlib.util.spec_from_file_location("campaigns_migration_0018", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON deliveries")
    op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
    op.execute(f"CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN {BODY}; RETURN NULL; END $fn$")
    op.execute(f"CREATE TRIGGER {NAME} AFTER UPDATE ON deliveries FOR EACH ROW WHEN ({WHEN}) EXECUTE FUNCTION {NAME}()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON deliveries")
    op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
    old = _revision_0018()
    op.execute(next(statement for statement in old.PG if f" {NAME}()" in statement.split("RETURNS")[0]))
    table, event, referencing, function = next(t for t in old.PG_TRIGGERS if t[3] == NAME)
    op.execute(
        f"CREATE TRIGGER {function} AFTER {event} ON {table} {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )
