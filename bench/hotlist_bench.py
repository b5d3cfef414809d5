"""The hot-list query at production scale: 1,000,000 contacts over 200 advisors, 10,000,000 clicks.

Run by hand (not part of the tests), against PostgreSQL:

    .venv/bin/python bench/hotlist_bench.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--keep]

It builds the schema with the Alembic migrations in a schema of its own (bench_hotlist_<random>),
fills it deterministically (fixed seed) with COPY, then measures one advisor's hot list
(p50 / p95 over many advisors), prints EXPLAIN ANALYZE of the ranking statement and drops the
schema. With --keep the schema stays (its name is printed); --schema NAME measures it again.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from campaigns import hotlist, migrate  # noqa: E402

SEED = 20261122
SCHEMA = f"bench_hotlist_{secrets.token_hex(3)}"
# VACUUM ANALYZE names these: a bare VACUUM would walk every schema of the shared database.
TABLES = "advisors, tags, offers, links, contacts, deliveries, clicks, notes"
ADVISORS = 200
CONTACTS = 1_000_000
OFFERS = 10  # two links each: the catalog (weight 1) and the discount (weight 3)
DELIVERIES_PER_CONTACT = 2
CLICKS = 10_000_000
HISTORY_DAYS = 365  # clicks spread over a year; the hot list looks at the last 14 days
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NAIVE_NOW = NOW.replace(tzinfo=None)


def _url_in_schema(url: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{SCHEMA}"


def build(base_url: str) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    url = _url_in_schema(base_url)
    migrate.upgrade(url)
    load(url)


def _contact_row(i: int, rng: random.Random, created: datetime) -> tuple:
    archived = NAIVE_NOW - timedelta(days=30) if rng.random() < 0.02 else None
    handled = NAIVE_NOW - timedelta(days=rng.randint(0, 30)) if rng.random() < 0.05 else None
    return (
        i,
        i % ADVISORS + 1,
        "Олег",
        "",
        "Петров",
        f"Компания {i}",
        "",
        f"kompaniya {i}",
        "",
        f"c{i}@client.example.com",
        f"+7916{i:07d}",
        "",
        archived,
        handled,
        created,
        created,
    )


CONTACT_COLUMNS = (
    "id, owner_id, first_name, middle_name, last_name, company, company_alias, company_key, position,"
    " email, phone, consent_source, archived_at, hot_handled_at, created_at, updated_at"
)


def load(url: str, contact_row=_contact_row, analyze: bool = True, contact_columns: str = CONTACT_COLUMNS) -> None:
    """Advisors, tags, offers, links, contacts, deliveries and clicks into the migrated database at ``url``.

    ``contact_row(i, rng, created)`` makes contact i's row (bench/pages_bench.py varies the names)."""
    rng = random.Random(SEED)
    engine = create_engine(url)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        # Bulk load: foreign keys are known good by construction; checking 10 M of them would
        # triple the load time. (Needs a superuser, as a bench database usually has.)
        cur.execute("SET session_replication_role = replica")
        created = NAIVE_NOW - timedelta(days=800)
        with cur.copy("COPY advisors (id, email, name, role, is_house, active, created_at) FROM STDIN") as copy:
            for i in range(1, ADVISORS + 1):
                copy.write_row((i, f"advisor{i}@bench.local", f"Советник {i}", "advisor", False, True, created))
        with cur.copy("COPY tags (id, name, kind, rule, lead_days, description, created_at) FROM STDIN") as copy:
            for i in range(1, OFFERS + 1):
                copy.write_row((i, f"Тег {i}", "industry", "2 sun aug", 21, "", created))
        with cur.copy("COPY offers (id, tag_id, year, subject, body, status, created_at, updated_at) FROM STDIN") as copy:
            for i in range(1, OFFERS + 1):
                copy.write_row((i, i, 2026, f"Предложение {i}", "", "ready", created, created))
        with cur.copy("COPY links (id, offer_id, name, url, label, weight, is_trap) FROM STDIN") as copy:
            for i in range(1, OFFERS + 1):
                copy.write_row((2 * i - 1, i, "catalog", f"https://g.example.com/c/{i}", "Каталог", 1, False))
                copy.write_row((2 * i, i, "discount", f"https://g.example.com/d/{i}", "Скидка", 3, False))
        print(f"contacts: {CONTACTS:,}", flush=True)
        with cur.copy(f"COPY contacts ({contact_columns}) FROM STDIN") as copy:
            for i in range(1, CONTACTS + 1):
                copy.write_row(contact_row(i, rng, created))
        deliveries = CONTACTS * DELIVERIES_PER_CONTACT
        print(f"deliveries: {deliveries:,}", flush=True)
        with cur.copy(
            "COPY deliveries (id, offer_id, contact_id, advisor_id, status, send_on, attempts, sent_at, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for d in range(1, deliveries + 1):
                contact = (d - 1) // DELIVERIES_PER_CONTACT + 1
                offer = (d - 1) % DELIVERIES_PER_CONTACT * (OFFERS // DELIVERIES_PER_CONTACT) + contact % (OFFERS // 2) + 1
                sent = NAIVE_NOW - timedelta(days=HISTORY_DAYS + 1)
                copy.write_row((d, offer, contact, contact % ADVISORS + 1, "sent", sent.date(), 1, sent, sent, sent))
        print(f"clicks: {CLICKS:,}", flush=True)
        with cur.copy(
            "COPY clicks (delivery_id, link_id, contact_id, owner_id, clicked_at, method, ip, user_agent, verdict, reason)"
            " FROM STDIN"
        ) as copy:
            for _ in range(CLICKS):
                d = rng.randint(1, deliveries)
                contact = (d - 1) // DELIVERIES_PER_CONTACT + 1
                offer = (d - 1) % DELIVERIES_PER_CONTACT * (OFFERS // DELIVERIES_PER_CONTACT) + contact % (OFFERS // 2) + 1
                link = 2 * offer - (rng.random() < 0.6)
                at = NAIVE_NOW - timedelta(seconds=rng.randint(0, HISTORY_DAYS * 86400))
                verdict = "human" if rng.random() < 0.7 else "bot"
                copy.write_row(
                    (
                        d,
                        link,
                        contact,
                        contact % ADVISORS + 1,
                        at,
                        "GET",
                        "95.165.10.20",
                        "Mozilla/5.0",
                        verdict,
                        "переход человека" if verdict == "human" else "сканер",
                    )
                )
        raw.commit()
        cur.execute("SET session_replication_role = DEFAULT")
        for table in ("advisors", "tags", "offers", "links", "contacts", "deliveries"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
    finally:
        raw.close()
    if analyze:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {TABLES}"))
    engine.dispose()
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def drop(base_url: str) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    admin.dispose()


def measure(base_url: str, samples: int) -> None:
    engine = create_engine(_url_in_schema(base_url))
    settings = SimpleNamespace(hot_days=14)
    rng = random.Random(SEED + 1)
    advisors = [rng.randint(1, ADVISORS) for _ in range(samples)]
    with Session(engine) as session:
        # One untimed pass first: a freshly loaded table is on disk, and an advisor's page is opened
        # many times a day. Timed cold, whichever statement came first paid the reads for the other.
        for advisor in advisors:
            session.execute(hotlist.ranking_query(session, advisor, settings.hot_days, NOW)).all()
            hotlist.hot_list(session, advisor, settings, now=NOW)
        timings = {"ranking": [], "hot_list (ranking + details)": []}
        sizes = []
        for advisor in advisors:
            t0 = time.perf_counter()
            rows = session.execute(hotlist.ranking_query(session, advisor, settings.hot_days, NOW)).all()
            timings["ranking"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            entries = hotlist.hot_list(session, advisor, settings, now=NOW)
            timings["hot_list (ranking + details)"].append((time.perf_counter() - t0) * 1000)
            sizes.append(len(rows))
            assert len(entries) == len(rows)
        counts = session.execute(
            text(
                "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM clicks),"
                " (SELECT count(*) FROM clicks WHERE verdict = 'human' AND clicked_at >= :since)"
            ),
            {"since": NAIVE_NOW - timedelta(days=14)},
        ).one()
        print(f"\ncontacts {counts[0]:,}, clicks {counts[1]:,}, human clicks in the last 14 days {counts[2]:,}")
        print(f"{samples} advisors sampled; entries per list (capped at {hotlist.LIMIT}): median {statistics.median(sizes)}")
        for name, values in timings.items():
            values.sort()
            p95 = values[int(len(values) * 0.95) - 1]
            print(f"{name:32s} p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms   max {values[-1]:7.1f} ms")
        for name, query in (
            ("ranking statement", hotlist.ranking_query(session, advisors[0], settings.hot_days, NOW)),
            (
                "page statement (ranking + clicked links)",
                hotlist.page_query(session).params(hotlist.page_params(advisors[0], settings.hot_days, NOW)),
            ),
        ):
            sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
            print(f"\nEXPLAIN ANALYZE of the {name}:\n" + "\n".join(plan))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the schema for another run (see --schema)")
    parser.add_argument("--schema", help="measure the data a --keep run left in this schema; build nothing")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--scale", type=float, default=1.0, help="a fraction of the full size, for a quick try")
    args = parser.parse_args()
    global CONTACTS, CLICKS, SCHEMA
    CONTACTS, CLICKS = int(CONTACTS * args.scale), int(CLICKS * args.scale)
    if args.schema:
        SCHEMA = args.schema
        measure(args.url, args.samples)
        return
    try:
        build(args.url)
        measure(args.url, args.samples)
    finally:
        if args.keep:
            print(f"\nkept: measure again with --schema {SCHEMA}")
        else:
            drop(args.url)


if __name__ == "__main__":
    main()
