"""Import benchmark: 100,000 generated contacts through the real import path, against
PostgreSQL COPY of the same rows as the floor. Run by hand, not by the tests:

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/import_bench.py [rows]

It creates a private schema, migrates it, imports, copies, prints rows/s and the ratio,
and drops the schema.
"""

from __future__ import annotations

import csv
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from campaigns import migrate  # noqa: E402
from campaigns.db import make_engine  # noqa: E402

SEED = 20261122
WORDS = [
    "Строй",
    "Газ",
    "Нефть",
    "Торг",
    "Мост",
    "Пром",
    "Транс",
    "Энерго",
    "Мед",
    "Авто",
    "Сталь",
    "Агро",
    "Хим",
    "Лес",
    "Тех",
    "Инвест",
    "Лизинг",
    "Порт",
    "Флот",
    "Снаб",
    "Маш",
    "Металл",
    "Дор",
    "Ресурс",
    "Сервис",
]
FIRST = ["Олег", "Анна", "Иван", "Мария", "Пётр", "Елена", "Сергей", "Ольга", "Дмитрий", "Наталья"]
LAST = ["Петров", "Смирнова", "Кузнецов", "Орлова", "Соколов", "Попова", "Лебедев", "Козлова", "Новиков", "Морозова"]
FORMS = ["ООО", "АО", "ПАО", "ЗАО", "ГК", ""]
HEADER = ["Фамилия", "Имя", "Отчество", "Компания", "Должность", "E-mail рабочий", "Телефон рабочий"]


def generate(path: Path, rows: int) -> None:
    rnd = random.Random(SEED)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        for i in range(rows):
            company = f"{rnd.choice(FORMS)} {''.join(rnd.sample(WORDS, 3))}-{i}".strip()
            writer.writerow(
                [
                    rnd.choice(LAST),
                    rnd.choice(FIRST),
                    "",
                    company,
                    "Менеджер",
                    f"client{i}@firm{i % 5000}.ru",
                    f"+7{9160000000 + i}",
                ]
            )


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    base = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    tmp = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        migrate.upgrade(url)
        data = tmp / "contacts.csv"
        generate(data, rows)
        from campaigns import create_app
        from campaigns.config import load_settings
        from campaigns.db import db
        from campaigns.import_check import ImportOptions
        from campaigns.import_commit import commit_import
        from campaigns.models import Advisor

        settings = load_settings(
            {
                **os.environ,
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(tmp / "instance"),
                "SECRET_KEY": "bench",
                "MAIL_URL": f"maildir:{tmp / 'outbox'}",
            }
        )
        app = create_app(settings)
        with app.app_context():
            advisor = Advisor(email="bench@example.com", name="Бенч Советник")
            db.session.add(advisor)
            db.session.commit()
            phases: dict[str, float] = {}

            def progress(phase: str, _done: int, _total: int) -> None:
                phases.setdefault(phase, time.perf_counter())

            started, cpu = time.perf_counter(), time.process_time()
            result = commit_import(db.session, data, data.name, ImportOptions(user_id=advisor.id), progress)
            ours, cpu = time.perf_counter() - started, time.process_time() - cpu
            check = phases.get("write", started + ours) - started
            print(f"import: {result.created:,} contacts (+ as many notes) in {ours:.2f} s = {result.created / ours:,.0f} rows/s")
            # On a shared machine the wall time swings with the neighbours; the CPU time of
            # this process (reading, checking, feeding COPY) is the steadier figure.
            print(f"        read + check {check:.2f} s, write {ours - check:.2f} s; CPU of this process {cpu:.2f} s")
        engine = make_engine(url)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("CREATE TEMP TABLE copy_target (LIKE contacts INCLUDING DEFAULTS)")
            # The floor: the same rows, as plain COPY would load them (no owner, no checks).
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'copy_target' "
                "AND is_nullable = 'NO' AND column_name <> 'id'"
            )
            for (column,) in cur.fetchall():
                cur.execute(f'ALTER TABLE copy_target ALTER COLUMN "{column}" DROP NOT NULL')
            started = time.perf_counter()
            with (
                data.open("rb") as fh,
                cur.copy(
                    "COPY copy_target (last_name, first_name, middle_name, company, position, email, phone) "
                    "FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)"
                ) as copy,
            ):
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            raw.commit()
            floor = time.perf_counter() - started
        finally:
            raw.close()
            engine.dispose()
        print(f"COPY:   {rows:,} rows in {floor:.2f} s = {rows / floor:,.0f} rows/s")
        print(f"ratio:  the import takes {ours / floor:.1f}× as long as COPY (it also validates, dedupes and writes notes)")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
