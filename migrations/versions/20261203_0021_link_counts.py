"""links.human_clicks, bot_clicks, clickers: each link's clicks, kept by triggers on clicks

The results page shows, per offer, what each link brought: human clicks, the contacts who
clicked it (each once) and the scanners' clicks apart. Counting them from clicks on each
request would read every click of the year (ten million at a million contacts); now each link
carries its counts and triggers on clicks keep them as clicks are inserted, deleted or judged
again (a late click turning an earlier «human» into a scanner's burst, clicks.py).

One rule for every writer: for each (link, contact) a statement touched, the counts move by the
statement's net change, and «clickers» by whether the contact has a human click on the link now
minus whether it had one before (now minus the net change). PostgreSQL: statement-level
triggers with transition tables; SQLite: row-level. The hidden trap link has no row in links
(link_id NULL) and is not counted; a deleted link takes its counts with it.

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COUNTS = ("human_clicks", "bot_clicks", "clickers")
HUMAN = "CASE WHEN {0}.verdict = 'human' THEN 1 ELSE 0 END"
BOT = "CASE WHEN {0}.verdict = 'bot' THEN 1 ELSE 0 END"
NOW = ("(SELECT count(*) FROM clicks k WHERE k.contact_id = {0}.contact_id AND k.verdict = 'human'"
       " AND k.link_id = {0}.link_id)")

RECOUNT = """
UPDATE links SET human_clicks = coalesce(s.human, 0), bot_clicks = coalesce(s.bot, 0), clickers = coalesce(s.clickers, 0)
FROM (SELECT link_id, sum(CASE WHEN verdict = 'human' THEN 1 ELSE 0 END) AS human,
             sum(CASE WHEN verdict = 'bot' THEN 1 ELSE 0 END) AS bot,
             count(DISTINCT CASE WHEN verdict = 'human' THEN contact_id END) AS clickers
      FROM clicks WHERE link_id IS NOT NULL GROUP BY link_id) s
WHERE links.id = s.link_id
"""

# What one statement changed, per row: (link_id, contact_id, h, b) with h, b in -1..1.
PG_DELTAS = {
    "INSERT": ("NEW TABLE AS new_rows",
               f"SELECT link_id, contact_id, {HUMAN.format('n')} AS h, {BOT.format('n')} AS b FROM new_rows n"),
    "DELETE": ("OLD TABLE AS old_rows",
               f"SELECT link_id, contact_id, -{HUMAN.format('o')} AS h, -{BOT.format('o')} AS b FROM old_rows o"),
    "UPDATE": ("OLD TABLE AS old_rows NEW TABLE AS new_rows",
               f"SELECT n.link_id, n.contact_id, {HUMAN.format('n')} - {HUMAN.format('o')} AS h,"
               f" {BOT.format('n')} - {BOT.format('o')} AS b"
               " FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.verdict <> n.verdict"),
}


def _pg_body(deltas: str) -> str:
    pairs = (f"SELECT link_id, contact_id, sum(h) AS h, sum(b) AS b FROM ({deltas}) x"
             " WHERE link_id IS NOT NULL GROUP BY link_id, contact_id")
    per_link = (f"SELECT p.link_id, sum(p.h) AS h, sum(p.b) AS b,"
                " sum(CASE WHEN p.now > 0 THEN 1 ELSE 0 END - CASE WHEN p.now - p.h > 0 THEN 1 ELSE 0 END) AS c"
                f" FROM (SELECT d.link_id, d.h, d.b, {NOW.format('d')} AS now FROM ({pairs}) d) p GROUP BY p.link_id")
    return ("UPDATE links SET human_clicks = links.human_clicks + s.h, bot_clicks = links.bot_clicks + s.b,"
            f" clickers = links.clickers + s.c FROM ({per_link}) s WHERE links.id = s.link_id")


def _lite_body(h: str, b: str, row: str) -> str:
    now = NOW.format(row)
    return (f"UPDATE links SET human_clicks = human_clicks + ({h}), bot_clicks = bot_clicks + ({b}),"
            f" clickers = clickers + (CASE WHEN {now} > 0 THEN 1 ELSE 0 END"
            f" - CASE WHEN {now} - ({h}) > 0 THEN 1 ELSE 0 END) WHERE id = {row}.link_id;")


SQLITE = {
    "insert": ("AFTER INSERT ON clicks WHEN NEW.link_id IS NOT NULL",
               _lite_body(HUMAN.format("NEW"), BOT.format("NEW"), "NEW")),
    "delete": ("AFTER DELETE ON clicks WHEN OLD.link_id IS NOT NULL",
               _lite_body(f"-{HUMAN.format('OLD')}", f"-{BOT.format('OLD')}", "OLD")),
    "update": ("AFTER UPDATE OF verdict ON clicks WHEN NEW.link_id IS NOT NULL AND OLD.verdict <> NEW.verdict",
               _lite_body(f"{HUMAN.format('NEW')} - {HUMAN.format('OLD')}", f"{BOT.format('NEW')} - {BOT.format('OLD')}",
                          "NEW")),
}


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        for column in COUNTS:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute(RECOUNT)
    if op.get_bind().dialect.name == "postgresql":
        for event, (referencing, deltas) in PG_DELTAS.items():
            name = f"link_counts_{event.lower()}"
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN {_pg_body(deltas)};"
                       " RETURN NULL; END $fn$")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON clicks REFERENCING {referencing}"
                       f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    else:
        for event, (when, body) in SQLITE.items():
            op.execute(f"CREATE TRIGGER link_counts_{event} {when} BEGIN {body} END")


def downgrade() -> None:
    for event in PG_DELTAS:
        name = f"link_counts_{event.lower()}"
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON clicks")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("links") as batch:
        for column in COUNTS:
            batch.drop_column(column)
