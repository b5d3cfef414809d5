"""result_counts: what each offer's mails brought, per advisor, kept up to date by the database

The results page aggregated every delivery and all their clicks on each request (≈ 100 s at a
million contacts and ten million clicks). Now one row per offer × advisor holds planned, sent,
failed, human and scanner clicks, clickers (mails with a human click) and unsubscribes, and
triggers keep it in step with every writer of deliveries, clicks, notes and contacts' owners
(the sending worker, the click flush, the planner, a transfer, a hand edit in psql alike).
The advisor is the one the mail went out from, or the contact's owner while it has not.

PostgreSQL: statement-level triggers with transition tables (one aggregated upsert per
statement, rows locked in key order); SQLite: row-level triggers. A delivery's own deletion
does not take back its clicks (deliveries go only with their contact, and contacts are archived,
not deleted); reports.recount() rebuilds the table from the facts if it ever must.

A later migration that rebuilds deliveries, clicks, notes or contacts on SQLite (Alembic's batch
mode copies the table) drops these triggers with the old table: it must create them again.

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COUNTS = ("planned", "sent", "failed", "human_clicks", "bot_clicks", "clickers", "unsubscribes")
KEY = "offer_id, advisor_id"
ALL = f"{KEY}, {', '.join(COUNTS)}"

RECOUNT = f"""
INSERT INTO result_counts ({ALL})
SELECT d.offer_id, coalesce(d.advisor_id, c.owner_id), count(*),
       sum(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), sum(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END),
       coalesce(sum(k.human), 0), coalesce(sum(k.bot), 0), sum(CASE WHEN k.human > 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN u.delivery_id IS NOT NULL THEN 1 ELSE 0 END)
FROM deliveries d
JOIN contacts c ON c.id = d.contact_id
LEFT JOIN (SELECT delivery_id, sum(CASE WHEN verdict = 'human' THEN 1 ELSE 0 END) AS human,
                  sum(CASE WHEN verdict = 'bot' THEN 1 ELSE 0 END) AS bot
           FROM clicks GROUP BY delivery_id) k ON k.delivery_id = d.id
LEFT JOIN (SELECT DISTINCT delivery_id FROM notes WHERE kind = 'unsubscribe' AND delivery_id IS NOT NULL) u
       ON u.delivery_id = d.id
GROUP BY d.offer_id, coalesce(d.advisor_id, c.owner_id)
"""

# ----------------------------------------------------------------------------- PostgreSQL


def _pg_upsert(select: str) -> str:
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTS)
    return f"INSERT INTO result_counts AS r ({ALL}) {select} ON CONFLICT ({KEY}) DO UPDATE SET {sets};"


def _pg_deliveries(rows: str, sign: str, where: str = "", facts: bool = True) -> str:
    """The counts of the delivery rows ``rows`` (a transition table), with ``sign``."""
    return _pg_upsert(_pg_deliveries_select(rows, sign, where, facts) + " ORDER BY 1, 2")


def _pg_combined(*selects: str) -> str:
    """Several signed SELECTs as one upsert: every row it locks, it locks once and in key order
    (two statements could each hold one row and wait for the other's)."""
    sums = ", ".join(f"sum({c})" for c in COUNTS)
    union = " UNION ALL ".join(f"({s})" for s in selects)
    return _pg_upsert(f"SELECT {KEY}, {sums} FROM ({union}) AS parts ({ALL}) GROUP BY 1, 2 ORDER BY 1, 2")


def _pg_deliveries_select(rows: str, sign: str, where: str = "", facts: bool = True) -> str:
    clicks = ("LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE verdict = 'human') AS human,"
              " count(*) FILTER (WHERE verdict = 'bot') AS bot FROM clicks WHERE delivery_id = x.id) k ON true"
              " LEFT JOIN LATERAL (SELECT true AS yes FROM notes WHERE delivery_id = x.id AND kind = 'unsubscribe'"
              " LIMIT 1) u ON true") if facts else ""
    human, bot, clickers, unsub = (("sum(k.human)", "sum(k.bot)", "count(*) FILTER (WHERE k.human > 0)",
                                    "count(*) FILTER (WHERE u.yes)") if facts else ("0", "0", "0", "0"))
    return (
        f"SELECT x.offer_id, coalesce(x.advisor_id, c.owner_id), {sign}count(*),"
        f" {sign}count(*) FILTER (WHERE x.status = 'sent'), {sign}count(*) FILTER (WHERE x.status = 'failed'),"
        f" {sign}{human}, {sign}{bot}, {sign}{clickers}, {sign}{unsub}"
        f" FROM {rows} x JOIN contacts c ON c.id = x.contact_id {clicks} {where}"
        " GROUP BY 1, 2")


_CHANGED = ("(o.status = 'sent') <> (n.status = 'sent') OR (o.status = 'failed') <> (n.status = 'failed')"
            " OR o.advisor_id IS DISTINCT FROM n.advisor_id OR o.offer_id <> n.offer_id OR o.contact_id <> n.contact_id")


def _pg_clicks(rows: str, sign: str, first: str) -> str:
    # ``first``: how many human clicks the delivery has now when this batch made it a clicked mail (or unmade it).
    return _pg_upsert(
        "SELECT d.offer_id, coalesce(d.advisor_id, c.owner_id), 0, 0, 0,"
        f" {sign}sum(n.human), {sign}sum(n.bot),"
        f" {sign}count(*) FILTER (WHERE n.human > 0 AND (SELECT count(*) FROM clicks k WHERE k.delivery_id = n.delivery_id"
        f" AND k.verdict = 'human') = {first}), 0"
        " FROM (SELECT delivery_id, count(*) FILTER (WHERE verdict = 'human') AS human,"
        f" count(*) FILTER (WHERE verdict = 'bot') AS bot FROM {rows} GROUP BY delivery_id) n"
        " JOIN deliveries d ON d.id = n.delivery_id JOIN contacts c ON c.id = d.contact_id"
        " GROUP BY 1, 2 ORDER BY 1, 2")


def _pg_moved(owner: str, sign: str) -> str:
    return (
        f"SELECT d.offer_id, m.{owner}, {sign}count(*), {sign}count(*) FILTER (WHERE d.status = 'sent'),"
        f" {sign}count(*) FILTER (WHERE d.status = 'failed'), {sign}sum(k.human), {sign}sum(k.bot),"
        f" {sign}count(*) FILTER (WHERE k.human > 0), {sign}count(*) FILTER (WHERE u.yes)"
        " FROM (SELECT o.id, o.owner_id AS old_owner, n.owner_id AS new_owner FROM old_rows o"
        " JOIN new_rows n ON n.id = o.id WHERE o.owner_id <> n.owner_id) m"
        " JOIN deliveries d ON d.contact_id = m.id AND d.advisor_id IS NULL"
        " LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE verdict = 'human') AS human,"
        " count(*) FILTER (WHERE verdict = 'bot') AS bot FROM clicks WHERE delivery_id = d.id) k ON true"
        " LEFT JOIN LATERAL (SELECT true AS yes FROM notes WHERE delivery_id = d.id AND kind = 'unsubscribe'"
        " LIMIT 1) u ON true"
        " GROUP BY 1, 2")


def _pg_function(name: str, body: str) -> str:
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n{body}\nRETURN NULL;\nEND\n$fn$")


PG = [
    _pg_function("result_counts_deliveries_insert", _pg_deliveries("new_rows", "", facts=False)),
    _pg_function("result_counts_deliveries_update", _pg_combined(
        _pg_deliveries_select("old_rows", "-", f"JOIN new_rows n ON n.id = x.id WHERE {_CHANGED.replace('o.', 'x.')}"),
        _pg_deliveries_select("new_rows", "", f"JOIN old_rows o ON o.id = x.id WHERE {_CHANGED.replace('n.', 'x.')}"))),
    _pg_function("result_counts_deliveries_delete", _pg_deliveries("old_rows", "-", facts=False)),
    _pg_function("result_counts_clicks_insert", _pg_clicks("new_rows", "", "n.human")),
    _pg_function("result_counts_clicks_delete", _pg_clicks("old_rows", "-", "0")),
    _pg_function("result_counts_notes_insert", _pg_upsert(
        "SELECT d.offer_id, coalesce(d.advisor_id, c.owner_id), 0, 0, 0, 0, 0, 0, count(*)"
        " FROM (SELECT delivery_id, count(*) AS notes FROM new_rows WHERE kind = 'unsubscribe'"
        " AND delivery_id IS NOT NULL GROUP BY delivery_id) n"
        " JOIN deliveries d ON d.id = n.delivery_id JOIN contacts c ON c.id = d.contact_id"
        " WHERE n.notes = (SELECT count(*) FROM notes x WHERE x.delivery_id = n.delivery_id AND x.kind = 'unsubscribe')"
        " GROUP BY 1, 2 ORDER BY 1, 2")),
    _pg_function("result_counts_contacts_update", _pg_combined(_pg_moved("old_owner", "-"), _pg_moved("new_owner", ""))),
]
PG_TRIGGERS = [
    ("deliveries", "INSERT", "REFERENCING NEW TABLE AS new_rows", "result_counts_deliveries_insert"),
    ("deliveries", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", "result_counts_deliveries_update"),
    ("deliveries", "DELETE", "REFERENCING OLD TABLE AS old_rows", "result_counts_deliveries_delete"),
    ("clicks", "INSERT", "REFERENCING NEW TABLE AS new_rows", "result_counts_clicks_insert"),
    ("clicks", "DELETE", "REFERENCING OLD TABLE AS old_rows", "result_counts_clicks_delete"),
    ("notes", "INSERT", "REFERENCING NEW TABLE AS new_rows", "result_counts_notes_insert"),
    ("contacts", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", "result_counts_contacts_update"),
]

# --------------------------------------------------------------------------------- SQLite


def _lite_vector(row: str, sign: str) -> dict[str, str]:
    human = f"(SELECT count(*) FROM clicks WHERE delivery_id = {row}.id AND verdict = 'human')"
    return {
        "planned": f"{sign}1",
        "sent": f"{sign}({row}.status = 'sent')",
        "failed": f"{sign}({row}.status = 'failed')",
        "human_clicks": f"{sign}{human}",
        "bot_clicks": f"{sign}(SELECT count(*) FROM clicks WHERE delivery_id = {row}.id AND verdict = 'bot')",
        "clickers": f"{sign}({human} > 0)",
        "unsubscribes": f"{sign}EXISTS (SELECT 1 FROM notes WHERE delivery_id = {row}.id AND kind = 'unsubscribe')",
    }


def _lite_bump(offer: str, advisor: str, values: dict[str, str]) -> str:
    sets = ", ".join(f"{c} = {c} + {v}" for c, v in values.items())
    return (f"INSERT OR IGNORE INTO result_counts ({KEY}) SELECT {offer}, {advisor} WHERE {offer} IS NOT NULL"
            f" AND {advisor} IS NOT NULL;\n"
            f"UPDATE result_counts SET {sets} WHERE offer_id = {offer} AND advisor_id = {advisor};")


def _lite_key(row: str) -> str:
    return f"coalesce({row}.advisor_id, (SELECT owner_id FROM contacts WHERE id = {row}.contact_id))"


def _lite_click(row: str, sign: str, first: str) -> str:
    offer = f"(SELECT offer_id FROM deliveries WHERE id = {row}.delivery_id)"
    advisor = (f"(SELECT coalesce(d.advisor_id, c.owner_id) FROM deliveries d JOIN contacts c ON c.id = d.contact_id"
               f" WHERE d.id = {row}.delivery_id)")
    human = f"(SELECT count(*) FROM clicks WHERE delivery_id = {row}.delivery_id AND verdict = 'human')"
    return _lite_bump(offer, advisor, {
        "human_clicks": f"{sign}({row}.verdict = 'human')",
        "bot_clicks": f"{sign}({row}.verdict = 'bot')",
        "clickers": f"{sign}({row}.verdict = 'human' AND {human} = {first})",
    })


def _lite_moved(owner: str, sign: str) -> str:
    mine = "d.contact_id = NEW.id AND d.advisor_id IS NULL AND d.offer_id = result_counts.offer_id"
    human = "EXISTS (SELECT 1 FROM clicks k WHERE k.delivery_id = d.id AND k.verdict = 'human')"
    values = {
        "planned": f"(SELECT count(*) FROM deliveries d WHERE {mine})",
        "sent": f"(SELECT count(*) FROM deliveries d WHERE {mine} AND d.status = 'sent')",
        "failed": f"(SELECT count(*) FROM deliveries d WHERE {mine} AND d.status = 'failed')",
        "human_clicks": f"(SELECT count(*) FROM clicks k JOIN deliveries d ON d.id = k.delivery_id WHERE {mine}"
                        " AND k.verdict = 'human')",
        "bot_clicks": f"(SELECT count(*) FROM clicks k JOIN deliveries d ON d.id = k.delivery_id WHERE {mine}"
                      " AND k.verdict = 'bot')",
        "clickers": f"(SELECT count(*) FROM deliveries d WHERE {mine} AND {human})",
        "unsubscribes": f"(SELECT count(*) FROM deliveries d WHERE {mine} AND EXISTS (SELECT 1 FROM notes x"
                        " WHERE x.delivery_id = d.id AND x.kind = 'unsubscribe'))",
    }
    sets = ", ".join(f"{c} = {c} {sign} {v}" for c, v in values.items())
    return (f"INSERT OR IGNORE INTO result_counts ({KEY}) SELECT DISTINCT offer_id, {owner}.owner_id FROM deliveries"
            " WHERE contact_id = NEW.id AND advisor_id IS NULL;\n"
            f"UPDATE result_counts SET {sets} WHERE advisor_id = {owner}.owner_id AND offer_id IN"
            " (SELECT offer_id FROM deliveries WHERE contact_id = NEW.id AND advisor_id IS NULL);")


_LITE_CHANGED = ("(OLD.status = 'sent') <> (NEW.status = 'sent') OR (OLD.status = 'failed') <> (NEW.status = 'failed')"
                 " OR OLD.advisor_id IS NOT NEW.advisor_id OR OLD.offer_id <> NEW.offer_id"
                 " OR OLD.contact_id <> NEW.contact_id")
SQLITE = [
    ("result_counts_deliveries_insert", "AFTER INSERT ON deliveries",
     _lite_bump("NEW.offer_id", _lite_key("NEW"), _lite_vector("NEW", "+"))),
    ("result_counts_deliveries_update", f"AFTER UPDATE ON deliveries WHEN {_LITE_CHANGED}",
     _lite_bump("OLD.offer_id", _lite_key("OLD"), _lite_vector("OLD", "-")) + "\n"
     + _lite_bump("NEW.offer_id", _lite_key("NEW"), _lite_vector("NEW", "+"))),
    ("result_counts_deliveries_delete", "AFTER DELETE ON deliveries",
     _lite_bump("OLD.offer_id", _lite_key("OLD"), _lite_vector("OLD", "-"))),
    ("result_counts_clicks_insert", "AFTER INSERT ON clicks", _lite_click("NEW", "+", "1")),
    ("result_counts_clicks_delete", "AFTER DELETE ON clicks", _lite_click("OLD", "-", "0")),
    ("result_counts_notes_insert",
     "AFTER INSERT ON notes WHEN NEW.kind = 'unsubscribe' AND NEW.delivery_id IS NOT NULL",
     _lite_bump("(SELECT offer_id FROM deliveries WHERE id = NEW.delivery_id)",
                "(SELECT coalesce(d.advisor_id, c.owner_id) FROM deliveries d JOIN contacts c ON c.id = d.contact_id"
                " WHERE d.id = NEW.delivery_id)",
                {"unsubscribes": "((SELECT count(*) FROM notes WHERE delivery_id = NEW.delivery_id"
                                 " AND kind = 'unsubscribe') = 1)"})),
    ("result_counts_contacts_update", "AFTER UPDATE OF owner_id ON contacts WHEN OLD.owner_id <> NEW.owner_id",
     _lite_moved("OLD", "-") + "\n" + _lite_moved("NEW", "+")),
]


def upgrade() -> None:
    op.create_table(
        "result_counts",
        sa.Column("offer_id", sa.Integer(), sa.ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("advisor_id", sa.Integer(), sa.ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True),
        *(sa.Column(c, sa.Integer(), nullable=False, server_default=sa.text("0")) for c in COUNTS),
    )
    op.execute(RECOUNT)
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG:
            op.execute(statement)
        for table, event, referencing, function in PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {function} AFTER {event} ON {table} {referencing}"
                       f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    else:
        for name, when, body in SQLITE:
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN\n{body}\nEND")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _event, _referencing, function in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {function} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name, _when, _body in SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("result_counts")
