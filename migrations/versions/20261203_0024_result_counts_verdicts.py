"""result_counts follow a click judged again: a human click turned into a scanner's

The click flush may find, with a late click, that clicks it stored as a person's were a
scanner's burst and correct their verdict (clicks._correct_stored: an UPDATE of clicks.verdict).
0018's triggers watch clicks being inserted and deleted only, so such a correction left the
offer's human clicks, scanner clicks and clickers as they were (and unequal to a recount and to
the links' own counts, 0021). These triggers move them by the change: for each delivery the
statement touched, human and scanner clicks by the net change, clickers by whether the mail has
a human click now minus whether it had one before.

Revision ID: 0024
Revises: 0023
"""
from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NAME = "result_counts_clicks_update"
COUNTS = ("planned", "sent", "failed", "human_clicks", "bot_clicks", "clickers", "unsubscribes")
HUMAN = "CASE WHEN {0}.verdict = 'human' THEN 1 ELSE 0 END"
BOT = "CASE WHEN {0}.verdict = 'bot' THEN 1 ELSE 0 END"
NOW = "(SELECT count(*) FROM clicks k WHERE k.delivery_id = {0}.delivery_id AND k.verdict = 'human')"

PG_DELTAS = (
    f"SELECT n.delivery_id, sum({HUMAN.format('n')} - {HUMAN.format('o')}) AS h,"
    f" sum({BOT.format('n')} - {BOT.format('o')}) AS b"
    " FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.verdict <> n.verdict GROUP BY n.delivery_id"
)
PG_BODY = (
    f"INSERT INTO result_counts AS r (offer_id, advisor_id, {', '.join(COUNTS)})"
    " SELECT d.offer_id, coalesce(d.advisor_id, c.owner_id), 0, 0, 0, sum(x.h), sum(x.b),"
    " sum(CASE WHEN x.now > 0 THEN 1 ELSE 0 END - CASE WHEN x.now - x.h > 0 THEN 1 ELSE 0 END), 0"
    f" FROM (SELECT p.delivery_id, p.h, p.b, {NOW.format('p')} AS now FROM ({PG_DELTAS}) p) x"
    " JOIN deliveries d ON d.id = x.delivery_id JOIN contacts c ON c.id = d.contact_id"
    " GROUP BY 1, 2 ORDER BY 1, 2"
    " ON CONFLICT (offer_id, advisor_id) DO UPDATE SET "
    + ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTS)
)

_OFFER = "(SELECT offer_id FROM deliveries WHERE id = NEW.delivery_id)"
_ADVISOR = ("(SELECT coalesce(d.advisor_id, c.owner_id) FROM deliveries d JOIN contacts c ON c.id = d.contact_id"
            " WHERE d.id = NEW.delivery_id)")
_H = f"({HUMAN.format('NEW')} - {HUMAN.format('OLD')})"
_B = f"({BOT.format('NEW')} - {BOT.format('OLD')})"
SQLITE_BODY = (
    f"INSERT OR IGNORE INTO result_counts (offer_id, advisor_id) SELECT {_OFFER}, {_ADVISOR}"
    f" WHERE {_OFFER} IS NOT NULL AND {_ADVISOR} IS NOT NULL;\n"
    f"UPDATE result_counts SET human_clicks = human_clicks + {_H}, bot_clicks = bot_clicks + {_B},"
    f" clickers = clickers + (CASE WHEN {NOW.format('NEW')} > 0 THEN 1 ELSE 0 END"
    f" - CASE WHEN {NOW.format('NEW')} - {_H} > 0 THEN 1 ELSE 0 END)"
    f" WHERE offer_id = {_OFFER} AND advisor_id = {_ADVISOR};"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN {PG_BODY};"
                   " RETURN NULL; END $fn$")
        op.execute(f"CREATE TRIGGER {NAME} AFTER UPDATE ON clicks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
                   f" FOR EACH STATEMENT EXECUTE FUNCTION {NAME}()")
    else:
        op.execute(f"CREATE TRIGGER {NAME} AFTER UPDATE OF verdict ON clicks WHEN OLD.verdict <> NEW.verdict"
                   f" BEGIN {SQLITE_BODY} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON clicks")
        op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {NAME}")
