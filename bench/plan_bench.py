"""Planning: 1,000,000 contacts with 4 tags each in PostgreSQL; planner.plan_day for the day of the
biggest tag and a second one (≈ 325,000 deliveries, ≈ 24,000 contacts carrying both: their second
mail is spaced), against a bare INSERT … SELECT of the same rows into deliveries; then plan_day
again on the same day, with nothing left to do.

    .venv/bin/python bench/plan_bench.py [--quick]     # BENCH_SCALE=0.1 for 100,000 contacts

The bare statement selects the same contacts by the same rules (tag, live, subscribed, with an
address, not suppressed) and inserts them with nothing else: no ON CONFLICT, no RETURNING, no
held-offer release, no spacing pass, no Python. Both run twice, alternating, on an emptied
deliveries table with its indexes; the best of each counts. Targets (#15): within 1.5× of the bare
statement, under 10 s, and a repeat under 1 s.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import harness
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

FULL_CONTACTS = 1_000_000
TAGS_PER_CONTACT = 4
TAGS = 40
ADVISORS = 200
BIGGEST_SHARE = 0.25  # a quarter of all contacts carry the biggest tag
SEED = 20261122
YEAR = 2026
BIG_RULE = "15 jul"  # the biggest tag and tag 2; every other one falls in the first third of the year
DUE_TAGS = (1, 2)
PLAN_TARGET_S, REPEAT_TARGET_S = 10.0, 1.0
REPEATS = 2


def load(url: str, contacts: int) -> None:
    rng = random.Random(SEED)
    engine = create_engine(url)
    raw = engine.raw_connection()
    created = datetime(2025, 1, 1)
    try:
        cur = raw.cursor()
        with cur.copy("COPY advisors (id, email, name, role, is_house, active, created_at) FROM STDIN") as copy:
            copy.write_row((1, "tupin@gifts.example.com", "Василий Тупин", "advisor", True, True, created))
            for i in range(2, ADVISORS + 2):
                # Every 50th advisor has left: their contacts' mail goes out from the house advisor.
                copy.write_row((i, f"advisor{i}@gifts.example.com", f"Советник {i}", "advisor", False, i % 50 != 0, created))
        with cur.copy("COPY tags (id, name, kind, rule, lead_days, description, created_at) FROM STDIN") as copy:
            copy.write_row((1, "Тег 1", "holiday", BIG_RULE, 0, "", created))
            for t in range(2, TAGS + 1):
                copy.write_row((t, f"Тег {t}", "industry", BIG_RULE if t in DUE_TAGS else f"day {t * 3}", 0, "", created))
        with cur.copy("COPY offers (id, tag_id, year, subject, body, status, created_at, updated_at) FROM STDIN") as copy:
            for t in range(1, TAGS + 1):
                copy.write_row((t, t, YEAR, f"Предложение {t}", "{{ greeting }}", "ready", created, created))
        suppressed = []
        with cur.copy(
            "COPY contacts (id, owner_id, first_name, middle_name, last_name, company, company_alias, company_key,"
            " position, email, phone, consent_source, consent_at, archived_at, unsubscribed_at, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for i in range(1, contacts + 1):
                r = rng.random()
                email = None if r < 0.01 else f"c{i}@client{i % 9973}.example.ru"
                archived = created if 0.01 <= r < 0.03 else None
                unsubscribed = created if 0.03 <= r < 0.04 else None
                if 0.04 <= r < 0.045:
                    suppressed.append(email)
                copy.write_row(
                    (
                        i,
                        i % ADVISORS + 2,
                        "Олег",
                        "",
                        "Петров",
                        f"Компания {i}",
                        "",
                        f"kompaniya {i}",
                        "",
                        email,
                        None,
                        "визитка",
                        created,  # consent on record (REQUIRE_CONSENT)
                        archived,
                        unsubscribed,
                        created,
                        created,
                    )
                )
        with cur.copy("COPY suppressions (email, reason, detail, created_at) FROM STDIN") as copy:
            for email in suppressed:
                copy.write_row((email, "bounce", "550 5.1.1", created))
        others = list(range(2, TAGS + 1))
        with cur.copy("COPY contact_tags (contact_id, tag_id) FROM STDIN") as copy:
            for i in range(1, contacts + 1):
                big = rng.random() < BIGGEST_SHARE
                tags = ([1] if big else []) + rng.sample(others, TAGS_PER_CONTACT - big)
                for t in tags:
                    copy.write_row((i, t))
        for table in ("advisors", "tags", "offers", "contacts"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Only our tables: a bare VACUUM would walk every schema in the database.
        conn.execute(text("VACUUM ANALYZE advisors, tags, offers, contacts, suppressions, contact_tags, deliveries"))
    engine.dispose()


BARE = """
INSERT INTO deliveries (contact_id, offer_id, status, send_on, attempts, created_at, updated_at)
SELECT c.id, ct.tag_id, 'planned', :day, 0, now(), now()
FROM contact_tags ct JOIN contacts c ON c.id = ct.contact_id
WHERE ct.tag_id IN (1, 2) AND c.consent_at IS NOT NULL
  AND c.archived_at IS NULL AND c.unsubscribed_at IS NULL AND c.email IS NOT NULL AND c.email <> ''
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = c.email)
"""


def empty_deliveries(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("TRUNCATE deliveries RESTART IDENTITY CASCADE"))


def main() -> int:
    contacts = max(10_000, int(FULL_CONTACTS * harness.scale()))
    instance = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    with harness.throwaway_schema("plan") as url:
        settings = harness.settings_for(harness.app_env(url, "redis://127.0.0.1:6379/15", instance))
        from campaigns import calendar, create_app, planner

        # The audience rule reads the app's settings (REQUIRE_CONSENT, the stop list's key), as in the worker.
        context = create_app(settings).app_context()
        context.push()

        day = calendar.send_date(BIG_RULE, 0, YEAR)
        print(f"planning: {contacts:,} contacts × {TAGS_PER_CONTACT} tags, the biggest tag due on {day}", flush=True)
        t0 = time.perf_counter()
        load(url, contacts)
        print(f"  loaded with COPY in {time.perf_counter() - t0:.0f} s", flush=True)
        engine = create_engine(url)
        with Session(engine) as session:
            due = planner.due_mailings(session, day)
            assert [tag.id for tag, _offer, _when in due] == list(DUE_TAGS), f"expected tags 1 and 2 due on {day}: {due}"
            expected = session.scalar(text("SELECT count(*) FROM contact_tags WHERE tag_id IN (1, 2)"))

        bare_times, plan_times, repeat_times, rows = [], [], [], set()
        for _ in range(REPEATS):
            empty_deliveries(engine)
            t0 = time.perf_counter()
            with engine.begin() as conn:
                n = conn.execute(text(BARE), {"day": day}).rowcount
            bare_times.append(time.perf_counter() - t0)
            rows.add(("bare", n))

            empty_deliveries(engine)
            t0 = time.perf_counter()
            with Session(engine) as session:
                result = planner.plan_day(session, day, settings)
                session.commit()
            plan_times.append(time.perf_counter() - t0)
            rows.add(("plan_day", result.planned))
            t0 = time.perf_counter()
            with Session(engine) as session:
                again = planner.plan_day(session, day, settings)
                session.commit()
            repeat_times.append(time.perf_counter() - t0)
            assert again.planned == again.spaced == 0, f"a repeat planned again: {again.summary()}"
            print(
                f"  bare INSERT … SELECT {n:,} rows in {bare_times[-1]:.2f} s; plan_day {result.summary()} in "
                f"{plan_times[-1]:.2f} s; the repeat in {repeat_times[-1]:.2f} s",
                flush=True,
            )
        engine.dispose()
        context.pop()

    shutil.rmtree(instance, ignore_errors=True)
    counts = {n for _, n in rows}
    same = len(counts) == 1
    print(
        f"  tags 1 and 2 have {expected:,} contacts; both planned {'the same ' if same else 'DIFFERENT '}"
        f"{' / '.join(f'{k} {v:,}' for k, v in sorted(rows))}"
    )
    ours, floor, repeat = min(plan_times), min(bare_times), min(repeat_times)
    ratio = ours / floor
    harness.emit(
        "3. planning",
        measured=f"plan_day {ours:.2f} s for {next(iter(counts)):,} deliveries; a repeat {repeat:.2f} s",
        ceiling=f"{floor:.2f} s (bare INSERT … SELECT)",
        ratio=round(ratio, 3),
        ratio_text=f"{ratio:.2f}×",
        target=f"≤ 1.5×, < {PLAN_TARGET_S:.0f} s, repeat < {REPEAT_TARGET_S:.0f} s",
        met=ratio <= 1.5 and same and ours < PLAN_TARGET_S and repeat < REPEAT_TARGET_S,
        contacts=contacts,
        same_rows=same,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
