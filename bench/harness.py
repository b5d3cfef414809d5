"""What every benchmark here shares: a throw-away PostgreSQL schema, a private Redis, the scale,
the settings a child process needs, and the one result line bench/run_all.py collects.

A benchmark script prints whatever a person wants to read, then exactly one line

    BENCH_RESULT {"name": …, "measured": …, "ceiling": …, "ratio": …, "target": …, "met": …}

which run_all.py turns into a row of the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
QUICK_SCALE = 0.05
PYTHON = sys.executable


def base_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL


def scale(argv: list[str] | None = None) -> float:
    """BENCH_SCALE (a fraction of the full size); --quick means QUICK_SCALE."""
    argv = sys.argv[1:] if argv is None else argv
    if "--quick" in argv:
        return QUICK_SCALE
    raw = os.environ.get("BENCH_SCALE") or "1"
    try:
        value = float(raw)
    except ValueError:
        sys.exit(f"BENCH_SCALE: '{raw}' must be a number such as 0.1")
    if not 0 < value <= 10:
        sys.exit(f"BENCH_SCALE: '{raw}' must be above 0 and at most 10")
    return value


def url_in_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def throwaway_schema(label: str, migrate: bool = True):
    """A fresh schema (migrated by Alembic) for one benchmark; dropped afterwards, whatever happens."""
    from campaigns import migrate as migrations

    schema = f"bench_{label}_{secrets.token_hex(3)}"
    admin = create_engine(base_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = url_in_schema(base_url(), schema)
    try:
        if migrate:
            migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            # Our own engines may still hold idle connections in that schema; they do not block a DROP.
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def private_redis():
    """A Redis of our own on a Unix socket (the one the tests use): nothing shared gets flushed."""
    from campaigns.launcher import start_private_redis

    folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    proc = start_private_redis(folder)
    try:
        yield f"unix://{folder / 'redis.sock'}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def app_env(database_url: str, redis_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of an app, worker or gunicorn process pointed at the bench's database and Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "bench-secret",
        "PUBLIC_URL": "https://campaigns.example.com",
        "TIMEZONE": "Europe/Moscow",
        "MAIL_URL": f"maildir:{instance / 'outbox'}",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def settings_for(env: dict[str, str]):
    from campaigns.config import load_settings

    return load_settings(env)


def emit(
    name: str, *, measured: str, ceiling: str, ratio: float | None, ratio_text: str, target: str, met: bool, **details
) -> None:
    """The one line run_all.py reads."""
    print(
        "BENCH_RESULT "
        + json.dumps(
            {
                "name": name,
                "measured": measured,
                "ceiling": ceiling,
                "ratio": ratio,
                "ratio_text": ratio_text,
                "target": target,
                "met": met,
                **details,
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
