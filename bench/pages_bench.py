"""Every page and API list at a million contacts: p95 per page as admin, marketing and an advisor.

    nice .venv/bin/python bench/pages_bench.py [--scale 0.05] [--reuse] [--samples 10] [--only results,search]

The data set is the hot-list benchmark's (bench/hotlist_bench.py: 1,000,000 contacts over 200
advisors, 2,000,000 sent deliveries, 10,000,000 clicks) with varied names and companies, plus 25
tags (≈ 2.8 per contact), a note per contact, offers for two years, an admin and a marketing user
and today's 325,000 planned deliveries. It is loaded with COPY into a database of its own
(``bench_pages`` beside BENCH_DATABASE_URL's, created if missing); --reuse keeps a database already
loaded at the same scale (only new migrations are applied), so a second run starts measuring at once.

Each page is requested through the Flask test client, in this process: the whole view with its
statements and its template, without a network hop. One untimed request warms it, then
``--samples`` timed ones give the p95 (a page slower than --budget seconds in total stops early; a
statement is cancelled after --timeout seconds, 120 by default: the page then counts as an error).
The CSV export is timed apart: its first row and its end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import harness
import hotlist_bench as hb
from sqlalchemy import create_engine, text

from campaigns import migrate

try:
    from campaigns import search
except ImportError:  # measuring a commit from before the search column
    search = None
try:
    from campaigns.runtime import settle_heap
except ImportError:  # measuring a commit from before the frozen heap

    def settle_heap() -> None:
        pass


try:
    from campaigns import contact_pages
except ImportError:  # measuring a commit from before the contact list's pages module
    contact_pages = None

DATABASE = "bench_pages"
TARGET_MS = 200.0
RESULTS_TARGET_MS = 300.0
EXPORT_FIRST_S, EXPORT_ALL_S = 1.0, 10.0
TODAY_DELIVERIES = 325_000
NOTES_PER_CONTACT = 1
ADMIN_ID, MARKETING_ID = hb.ADVISORS + 1, hb.ADVISORS + 2

LAST = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков Алексеев"
    " Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров Зайцев"
    " Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв"
    " Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков"
    " Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров"
).split()
FIRST = (
    "Александр Сергей Дмитрий Андрей Алексей Максим Евгений Иван Михаил Артём Никита Владимир Олег Павел"
    " Роман Николай Игорь Юрий Виктор Константин"
).split()
MIDDLE = (
    "Александрович Сергеевич Дмитриевич Андреевич Алексеевич Иванович Михайлович Владимирович Олегович"
    " Павлович Николаевич Викторович Юрьевич Петрович"
).split()
WORDS = (
    "Строй Газ Нефть Транс Металл Энерго Агро Лес Пром Тех Хим Мед Фарм Тел Авто Сиб Урал Волга Дон Нева"
    " Балт Север Юг Восток Инвест Снаб Торг Маш Электро Кабель"
).split()
POSITIONS = (
    "директор",
    "генеральный директор",
    "начальник отдела снабжения",
    "главный инженер",
    "закупщик",
    "коммерческий директор",
    "менеджер",
    "",
)
# tags 1-10 are the hot-list loader's (industries); their rules are spread over the year here.
TAG_RULES = [
    "2 sun aug",
    "1 sep",
    "last sun sep",
    "22 dec",
    "day 256",
    "3 sun jun",
    "12 jun",
    "4 nov",
    "2 sun mar",
    "27 dec",
    # 11-25: holidays and months
    "31 dec",
    "23 feb",
    "8 mar",
    "1 jan",
    "14 feb",
    "25 jan",
    "9 may",
    "1 may",
    "workday1 jan",
    "workday1 feb",
    "workday1 mar",
    "workday1 apr",
    "workday1 sep",
    "workday1 oct",
    "workday1 dec",
]
SEARCHES = ("Соколов", "Sokolov", "Соловьев", "ржд логистика", "+7 916 000-12-34", "c123456@")


def _company(i: int) -> tuple[str, str]:
    if i % 5000 == 0:
        return "РЖД-Логистика", "RZD Logistics"
    n = i % 50_000
    return f"{WORDS[n % len(WORDS)]}{WORDS[n // len(WORDS) % len(WORDS)].lower()}-{n // 900 + 1}", ""


def contact_row(i: int, rng: random.Random, created: datetime) -> tuple:
    from campaigns.contact_fields import company_key

    archived = hb.NAIVE_NOW - timedelta(days=30) if rng.random() < 0.02 else None
    handled = hb.NAIVE_NOW - timedelta(days=rng.randint(0, 30)) if rng.random() < 0.05 else None
    company, alias = _company(i)
    updated = created + timedelta(seconds=rng.randint(0, 700 * 86400))
    row = (
        i,
        i % hb.ADVISORS + 1,
        rng.choice(FIRST),
        rng.choice(MIDDLE),
        rng.choice(LAST),
        company,
        alias,
        company_key(company, alias),
        rng.choice(POSITIONS),
        f"c{i}@client{i % 50_000}.example.com",
        f"+7916{i:07d}",
        "визитка",
        archived,
        handled,
        created,
        updated,
    )
    row = (*row, created)  # consent_at: every contact may be mailed (REQUIRE_CONSENT is on by default)
    if not SEARCH_KEY:
        return row
    return (*row, search.contact_key(row[2], row[3], row[4], company, alias, row[8], row[9], row[10]))


SEARCH_KEY = search is not None  # the normalised search column (migration 0017) is filled by the COPY too


def admin_url(base: str) -> str:
    return base.rsplit("/", 1)[0] + "/postgres"


def db_url(base: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + DATABASE


def _loaded_scale(url: str) -> float | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT scale FROM bench_meta WHERE done"))
    except Exception:
        return None
    finally:
        engine.dispose()


def build(base: str, scale: float) -> None:
    admin = create_engine(admin_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    url = db_url(base)
    migrate.upgrade(url)
    started = time.perf_counter()
    hb.load(
        url,
        contact_row=contact_row,
        analyze=False,
        contact_columns=hb.CONTACT_COLUMNS + ", consent_at" + (", search_key" if SEARCH_KEY else ""),
    )
    contacts = hb.CONTACTS
    rng = random.Random(hb.SEED + 7)
    engine = create_engine(url)
    raw = engine.raw_connection()
    created = hb.NAIVE_NOW - timedelta(days=800)
    today = datetime.now(UTC).date()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")
        with cur.copy("COPY advisors (id, email, name, role, is_house, active, created_at) FROM STDIN") as copy:
            copy.write_row((ADMIN_ID, "admin@bench.local", "Администратор", "admin", False, True, created))
            copy.write_row((MARKETING_ID, "marketing@bench.local", "Маркетолог", "marketing", False, True, created))
        cur.execute("UPDATE advisors SET session_key = 'bench' || id")
        for i, rule in enumerate(TAG_RULES, start=1):
            if i <= hb.OFFERS:
                cur.execute("UPDATE tags SET rule = %s, name = %s WHERE id = %s", (rule, f"Отрасль {i}", i))
        with cur.copy("COPY tags (id, name, kind, rule, lead_days, description, created_at) FROM STDIN") as copy:
            for i in range(hb.OFFERS + 1, len(TAG_RULES) + 1):
                kind = "holiday" if i < 19 else "month"
                copy.write_row(
                    (i, f"{'Праздник' if kind == 'holiday' else 'Месяц'} {i}", kind, TAG_RULES[i - 1], 21, "", created)
                )
        offer_id, link_id = hb.OFFERS, 2 * hb.OFFERS
        with cur.copy("COPY offers (id, tag_id, year, subject, body, status, created_at, updated_at) FROM STDIN") as o:
            offers = []
            for tag in range(1, len(TAG_RULES) + 1):
                for year in (2026, 2027):
                    if tag <= hb.OFFERS and year == 2026:
                        continue
                    offer_id += 1
                    offers.append(offer_id)
                    body = "{{ greeting }}\n\nНаше предложение: {{ link('catalog') }}"
                    o.write_row(
                        (
                            offer_id,
                            tag,
                            year,
                            f"Предложение {tag}/{year}",
                            body,
                            "ready" if year == 2026 else "draft",
                            created,
                            created,
                        )
                    )
        with cur.copy("COPY links (id, offer_id, name, url, label, weight, is_trap) FROM STDIN") as links:
            for offer in offers:
                link_id += 1
                links.write_row((link_id, offer, "catalog", f"https://g.example.com/c/{offer}", "Каталог", 1, False))
        print(f"contact tags: ≈ {int(contacts * 2.8):,}", flush=True)
        with cur.copy("COPY contact_tags (contact_id, tag_id) FROM STDIN") as copy:
            for c in range(1, contacts + 1):
                tags = {c % hb.OFFERS + 1}
                for _ in range(rng.choice((0, 1, 2, 2, 3))):
                    tags.add(rng.randint(hb.OFFERS + 1, len(TAG_RULES)))
                for tag in tags:
                    copy.write_row((c, tag))
        print(f"notes: {contacts * NOTES_PER_CONTACT:,}", flush=True)
        with cur.copy("COPY notes (contact_id, kind, author_id, body, created_at) FROM STDIN") as copy:
            for c in range(1, contacts + 1):
                for _ in range(NOTES_PER_CONTACT):
                    kind = rng.choice(("manual", "call", "mail"))
                    at = hb.NAIVE_NOW - timedelta(seconds=rng.randint(0, 365 * 86400))
                    copy.write_row((c, kind, c % hb.ADVISORS + 1, "Поговорили, просил перезвонить", at))
        today_offer = offers[0]  # tag 11, 2026
        planned = min(int(TODAY_DELIVERIES * scale), contacts)
        print(f"today's planned deliveries: {planned:,}", flush=True)
        start = datetime.combine(today, datetime.min.time()) + timedelta(hours=6)
        with cur.copy(
            "COPY deliveries (offer_id, contact_id, status, send_on, send_at, attempts, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n, c in enumerate(range(1, contacts + 1, max(1, contacts // planned))):
                if n >= planned:
                    break
                at = start + timedelta(seconds=n * 9 * 3600 // planned)
                copy.write_row((today_offer, c, "planned", today, at, 0, created, created))
        raw.commit()
        cur.execute("SET session_replication_role = DEFAULT")
        for table in ("advisors", "tags", "offers", "links", "deliveries", "notes", "clicks"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cur.execute("CREATE TABLE bench_meta (scale float, done boolean)")
        cur.execute("INSERT INTO bench_meta VALUES (%s, true)", (scale,))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


# ------------------------------------------------------------------------------ measuring


# A page opened by its number goes this deep (OFFSET); deeper ones are a 400 that points to «дальше».
LAST_NUMBERED_PAGE = getattr(contact_pages, "LAST_NUMBERED_PAGE", None) if contact_pages else None


def pages(
    advisor: int, contact: int, offer: int, deep_cursor: str = "", api_cursor: str = ""
) -> dict[str, list[tuple[str, str]]]:
    """role → [(label, path)]."""
    search = [(f"search «{q}»", f"/contacts/?q={quote(q)}") for q in SEARCHES]
    deep = hb.CONTACTS // 2 // 50
    if LAST_NUMBERED_PAGE:
        numbered = [
            (f"contacts, deepest numbered page (`?page={LAST_NUMBERED_PAGE}`)", f"/contacts/?page={LAST_NUMBERED_PAGE}"),
            (f"contacts, deep page refused (`?page={deep}`)", f"/contacts/?page={deep}"),
        ]
        api_numbered = [
            (f"api deepest numbered page (`?page={LAST_NUMBERED_PAGE}`)", f"/api/contacts?page={LAST_NUMBERED_PAGE}"),
            *([("api deep page by cursor", f"/api/contacts?cursor={api_cursor}")] if api_cursor else []),
            (f"api deep page refused (`?page={deep}`)", f"/api/contacts?page={deep}"),
        ]
    else:  # measuring a commit from before the limit: page `deep` by OFFSET
        numbered = [("contacts, deep page", f"/contacts/?page={deep}")]
        api_numbered = [("api deep page", f"/api/contacts?page={deep}")]
    common = [("home", "/"), ("contacts", "/contacts/"), ("calendar", "/calendar"), ("api contacts", "/api/contacts")]
    return {
        "advisor": common
        + [
            ("hot list", "/hot/"),
            ("contact card", f"/contacts/{contact}"),
            ("search «Соколов»", f"/contacts/?q={quote('Соколов')}"),
            ("api search", f"/api/contacts?search={quote('Соколов')}"),
        ],
        "marketing": common
        + [
            ("board", "/board"),
            ("tags", "/tags"),
            ("offers", "/offers"),
            ("offer", f"/offers/{offer}"),
            ("results", "/results/"),
            ("queue", "/queue"),
            ("tag filter", "/contacts/?tag=12"),
            ("search «ржд логистика»", f"/contacts/?q={quote('ржд логистика')}"),
        ],
        "admin": common
        + [
            *numbered,
            *([("contacts, deep page by cursor", f"/contacts/?page={deep}&after={deep_cursor}")] if deep_cursor else []),
            *search,
            ("tag filter", "/contacts/?tag=12"),
            ("contact card", f"/contacts/{contact}"),
            ("queue", "/queue"),
            ("users", "/admin/users"),
            ("results", "/results/"),
            ("board", "/board"),
            ("tags", "/tags"),
            ("imports", "/imports/"),
            ("api search", f"/api/contacts?search={quote('Sokolov')}"),
            *api_numbered,
        ],
    }


def _client(app, user_id: int):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{user_id}:bench{user_id}"
        session["_fresh"] = True
    return client


def measure(url: str, samples: int, budget: float, only: list[str], timeout: float = 120.0) -> list[dict]:
    from campaigns import create_app

    rows = []
    with harness.private_redis() as redis_url:
        instance = Path(tempfile.mkdtemp(prefix="bench-pages-"))
        env = harness.app_env(url + f"?options=-cstatement_timeout%3D{int(timeout * 1000)}", redis_url, instance)
        app = create_app(harness.settings_for(env))
        settle_heap()  # what gunicorn.conf.py's post_worker_init does in every web worker
        refresh_board(app)
        engine = create_engine(url)
        with engine.connect() as conn:
            advisor = 17
            contact = conn.scalar(
                text("SELECT min(id) FROM contacts WHERE owner_id = :a AND archived_at IS NULL"), {"a": advisor}
            )
            offer = conn.scalar(text("SELECT min(id) FROM offers WHERE year = 2027"))
            # Where «дальше» from page N-1 leads: the (updated_at, id) cursor of its last row.
            row = conn.execute(
                text("SELECT updated_at, id FROM contacts WHERE archived_at IS NULL ORDER BY updated_at, id OFFSET :n LIMIT 1"),
                {"n": hb.CONTACTS // 2 - 1},
            ).first()
            deep_cursor = f"{round(row.updated_at.replace(tzinfo=UTC).timestamp() * 1_000_000)}.{row.id}" if row else ""
        engine.dispose()
        users = {"advisor": advisor, "marketing": MARKETING_ID, "admin": ADMIN_ID}
        api_cursor = _api_cursor(app, deep_cursor, hb.CONTACTS // 2 // 50)
        for role, entries in pages(advisor, contact, offer, deep_cursor, api_cursor).items():
            client = _client(app, users[role])
            for label, path in entries:
                if only and not any(word in label for word in only):
                    continue
                # A refused page is measured as what it should be: a fast 400.
                timings, status, expected = [], None, 400 if "refused" in label else 200
                for n in range(samples + 1):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    response.get_data()
                    elapsed = (time.perf_counter() - t0) * 1000
                    status = response.status_code
                    if n:
                        timings.append(elapsed)
                    if status != expected or sum(timings) > budget * 1000 or (n == 0 and elapsed > budget * 1000):
                        timings = timings or [elapsed]
                        break
                timings.sort()
                p95 = timings[max(0, int(round(len(timings) * 0.95)) - 1)]
                target = RESULTS_TARGET_MS if label == "results" else TARGET_MS
                row = {
                    "role": role,
                    "page": label,
                    "path": path,
                    "status": status,
                    "n": len(timings),
                    "p50": statistics.median(timings),
                    "p95": p95,
                    "target": target,
                    "met": status == expected and p95 < target,
                }
                print(
                    f"{role:9s} {label:28s} {status} n={row['n']:2d} p50 {row['p50']:9.1f} ms  p95 {p95:9.1f} ms"
                    f"  (target < {target:.0f})",
                    flush=True,
                )
                rows.append(row)
        if not only or "export" in only:
            rows.append(_export(app))
    return rows


def _api_cursor(app, after: str, page: int) -> str:
    """The API's next_cursor that leads to page ``page`` (rows after ``after``), signed as the API signs it."""
    if not after or LAST_NUMBERED_PAGE is None:
        return ""
    from campaigns.web.api.base import make_cursor

    with app.test_request_context("/api/contacts"):
        return quote(make_cursor([after, page]))


def refresh_board(app) -> None:
    """What the scheduler does every 10 minutes: the board's counts (board.refresh_counts), timed."""
    try:
        from campaigns import board
        from campaigns.db import db
    except ImportError:
        return
    if not hasattr(board, "refresh_counts"):  # measuring a commit from before board_counts
        return
    with app.app_context():
        t0 = time.perf_counter()
        rows = board.refresh_counts(db.session)
        db.session.commit()
        print(f"board counts refreshed (the scheduler's job): {rows} rows in {time.perf_counter() - t0:.1f} s", flush=True)


def _export(app) -> dict:
    import resource

    client = _client(app, ADMIN_ID)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    response = client.get("/imports/export.csv", buffered=False)
    first = None
    size = 0
    for chunk in response.response:
        if first is None and b"\n" in chunk:
            first = time.perf_counter() - t0
        size += len(chunk)
    total = time.perf_counter() - t0
    response.close()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    met = response.status_code == 200 and (first or total) < EXPORT_FIRST_S and total < EXPORT_ALL_S
    print(
        f"admin     CSV export                   {response.status_code} first row {first or total:.2f} s,"
        f" all {total:.1f} s, {size / 1e6:.0f} MB, peak memory +{grown:.0f} MB",
        flush=True,
    )
    return {
        "role": "admin",
        "page": "CSV export",
        "status": response.status_code,
        "first_s": first or total,
        "total_s": total,
        "memory_mb": grown,
        "met": met,
    }


def table(rows: list[dict]) -> str:
    lines = ["| role | page | p95 | p50 | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["page"] == "CSV export":
            lines.append(
                f"| {r['role']} | CSV export | first row {r['first_s']:.2f} s, all {r['total_s']:.1f} s,"
                f" memory +{r['memory_mb']:.0f} MB | — | < {EXPORT_FIRST_S:.0f} s, < {EXPORT_ALL_S:.0f} s,"
                f" < 150 MB | {'met' if r['met'] else '**missed**'} |"
            )
            continue
        p95 = (
            f"{r['p95']:.0f} ms"
            + ("" if r["status"] == 200 else f" (HTTP {r['status']})")
            + (f" (n={r['n']})" if r["n"] < 5 else "")
        )
        lines.append(
            f"| {r['role']} | {r['page']} | {p95} | {r['p50']:.0f} ms | < {r['target']:.0f} ms |"
            f" {'met' if r['met'] else '**missed**'} |"
        )
    return "\n".join(lines)


def main() -> int:
    global DATABASE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=None, help="a fraction of the full size (default BENCH_SCALE or 1)")
    parser.add_argument("--quick", action="store_true", help="--scale 0.05")
    parser.add_argument("--reuse", action="store_true", help="keep a database already loaded at this scale")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per page before it stops early")
    parser.add_argument("--database", default=DATABASE, help=f"the database to load and measure (default {DATABASE})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a statement is cancelled")
    parser.add_argument("--only", default="", help="comma-separated words: measure only pages whose label has one")
    args = parser.parse_args()
    scale = args.scale if args.scale is not None else harness.scale()
    # A smaller run gets a database of its own: the loaded million contacts stay for the next full run.
    DATABASE = args.database if args.database != DATABASE or scale == 1 else f"{DATABASE}_{scale:g}".replace(".", "_")
    hb.CONTACTS, hb.CLICKS = int(1_000_000 * scale), int(10_000_000 * scale)
    base = harness.base_url()
    url = db_url(base)
    loaded = _loaded_scale(url) if args.reuse else None
    if loaded == scale:
        print(f"reusing database {DATABASE} (scale {scale}); applying new migrations", flush=True)
        migrate.upgrade(url)
    else:
        print(f"loading database {DATABASE}: {hb.CONTACTS:,} contacts, {hb.CLICKS:,} clicks (scale {scale})", flush=True)
        build(base, scale)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    rows = measure(url, args.samples, args.budget, only, args.timeout)
    print("\n" + table(rows))
    pages_rows = [r for r in rows if r["page"] != "CSV export"]
    missed = [f"{r['role']} {r['page']}" for r in rows if not r["met"]]
    worst = max(pages_rows, key=lambda r: r["p95"] / r["target"]) if pages_rows else None
    harness.emit(
        "7. pages",
        measured=(
            f"{len(rows) - len(missed)}/{len(rows)} met; worst {worst['role']} {worst['page']} p95 {worst['p95']:.0f} ms"
            if worst
            else "nothing measured"
        ),
        ceiling="—",
        ratio=None,
        ratio_text="—",
        target="p95 < 200 ms (results < 300 ms); export 1 s / 10 s",
        met=not missed,
        missed=missed,
        contacts=hb.CONTACTS,
        rows=rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
