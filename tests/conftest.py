"""Fixtures: a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), a real Redis
(a private server started for the run), a real SMTP server (aiosmtpd), and small factories.
Only fixtures live here; the helpers they are built from are in tests/support.py (and the shared
scenes in tests/scenes.py), which the tests import (nothing imports from a conftest).

Each test starts from empty tables and an empty Redis; the schema is built once per run
by the Alembic migrations, never by create_all().
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from campaigns import create_app, webhooks
from campaigns.config import load_settings
from campaigns.db import Base, db
from campaigns.launcher import start_private_redis
from tests import support
from tests.support import Client, Factory, RecordingHandler, private_schema, serve_smtp

# Hypothesis checks properties, not speed: no per-example deadline. A deadline fails a correct
# example when the machine is busy (parallel workers, CI neighbours); speed is measured in bench/.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


@pytest.fixture(scope="session")
def tmp_root():
    path = Path(tempfile.mkdtemp(prefix="campaigns-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(tmp_root):
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    redis_dir = tmp_root / "redis"
    redis_dir.mkdir()
    proc = start_private_redis(redis_dir)
    yield f"unix://{redis_dir / 'redis.sock'}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def database_url(tmp_root):
    """A migrated database for this run: a SQLite file, or a private PostgreSQL schema."""
    from campaigns import migrate
    from campaigns.config import parse_database_url

    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_root / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    with private_schema(parse_database_url(base), "test") as url:
        try:
            migrate.upgrade(url)
            yield url
        finally:
            db.engine and db.engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_root, database_url, redis_url):
    instance = tmp_root / "instance"
    return load_settings(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MAIL_URL": f"maildir:{tmp_root / 'outbox'}",
            "SECRET_KEY": "test-secret",
            "PUBLIC_URL": "https://campaigns.example.com",
            "TIMEZONE": "Europe/Moscow",
        }
    )


@pytest.fixture(scope="session")
def app(settings):
    app = create_app(settings)
    app.config.update(TESTING=True)
    return app


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty tables and Redis after each test that used them."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        db.registry.remove()
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        from campaigns.extensions import redis_client

        redis_client().flushdb()
        from campaigns import clicks

        clicks.forget_cached_targets()  # ids restart after TRUNCATE; cached links must not outlive them


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


@pytest.fixture
def client(app):
    with app.test_client() as flask_client:
        yield Client(flask_client)


@pytest.fixture
def factory(session):
    return Factory(session)


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a random local port; received envelopes in .messages."""
    with serve_smtp(RecordingHandler()) as sink:
        yield sink


@pytest.fixture(scope="session")
def imap_server():
    """A private Dovecot (tests/dovecot.py) for the run; skipped with the reason where it cannot run,
    a failure instead with REQUIRE_IMAP=1 (CI installs it: .ci/install-dovecot.sh)."""
    from tests.dovecot import DOVECOT, DovecotServer

    reason = None
    server = None
    if DOVECOT is None:
        reason = "no Dovecot (apt-get install dovecot-imapd, or run .ci/install-dovecot.sh)"
    else:
        server = DovecotServer()
        try:
            server.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            reason = f"Dovecot would not start here: {exc}"
            server.stop()
            server = None
    if server is None:
        if os.environ.get("REQUIRE_IMAP") == "1":
            pytest.fail(f"REQUIRE_IMAP=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    # The private Dovecot listens on 127.0.0.1 and a random port: the tests allow it as an admin
    # allows an in-house mail server (replies.py refuses loopback and other ports otherwise).
    from campaigns import replies

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(replies.ALLOWED_NETWORKS_ENV, "127.0.0.1/32")
        yield server
    server.stop()


@pytest.fixture
def imap_account(imap_server):
    """A fresh, empty mailbox on the private Dovecot."""
    return imap_server.account()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv(webhooks.ALLOWED_NETWORKS_ENV, "127.0.0.1/32")
    r = support.Receiver()
    yield r
    r.close()


@pytest.fixture
def make_user(app):
    """Makes an advisor committed in an app context of its own, returned detached (id, email): for tests
    that hold no app context between requests (Flask would reuse it, and Flask-Login caches the user in `g`)."""
    factory = Factory(db.session)  # the scoped session: each call below works in its own app context

    def make(**kw):
        with app.app_context():
            user = factory.advisor(**kw)
            db.session.commit()
            return SimpleNamespace(id=user.id, email=user.email)

    return make
