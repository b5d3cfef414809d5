"""Fixtures: a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), a real Redis
(a private server started for the run), a real SMTP server (aiosmtpd), and small factories.

Each test starts from empty tables and an empty Redis; the schema is built once per run
by the Alembic migrations, never by create_all().
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from campaigns import create_app
from campaigns.accounts import create_user, hash_password
from campaigns.config import load_settings
from campaigns.db import Base, db
from campaigns.launcher import start_private_redis
from campaigns.models import Advisor, Contact, Offer, OfferStatus, Role, Tag, TagKind

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # scrypt is slow on purpose: hash once per run


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


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


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
    base = parse_database_url(base)
    schema = f"test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(base, schema)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        db.engine and db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
        db.session.remove()
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


class Client:
    """The Flask test client plus log-in and CSRF helpers."""

    def __init__(self, flask_client):
        self.raw = flask_client

    def __getattr__(self, name):
        return getattr(self.raw, name)

    def csrf_token(self, path: str = "/login") -> str:
        page = self.raw.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', page) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page
        )
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, user: Advisor, password: str = PASSWORD):
        token = self.csrf_token("/login")
        response = self.raw.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def post_form(self, path: str, data: dict | None = None, **kwargs):
        """POST with the CSRF token a real form would carry."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token("/"))
        return self.raw.post(path, data=data, **kwargs)


@pytest.fixture
def client(app):
    with app.test_client() as flask_client:
        yield Client(flask_client)


@dataclass
class Factory:
    """Small builders; each test states the few facts it depends on."""

    session: object
    counter: list = field(default_factory=lambda: [0])

    def _n(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def advisor(self, **kw) -> Advisor:
        n = self._n()
        kw.setdefault("email", f"advisor{n}@studio.example.com")
        kw.setdefault("name", f"Советник {n}")
        kw.setdefault("role", Role.ADVISOR)
        kw.setdefault("password_hash", _PASSWORD_HASH)
        kw.setdefault("phone", "+79160000000")
        kw.setdefault("signature", f"С уважением,\n{kw['name']}")
        later = {k: kw.pop(k) for k in ("active", "daily_cap") if k in kw}
        user = create_user(self.session, **kw)  # the same checks as the form and the CLI
        for name, value in later.items():
            setattr(user, name, value)
        self.session.flush()
        return user

    def house_advisor(self, **kw) -> Advisor:
        kw.setdefault("name", "Василий Тупин")
        return self.advisor(is_house=True, **kw)

    def tag(self, name: str | None = None, **kw) -> Tag:
        n = self._n()
        tag = Tag(name=name or f"Тег {n}", kind=kw.pop("kind", TagKind.INDUSTRY), rule=kw.pop("rule", "2 sun aug"),
                  lead_days=kw.pop("lead_days", 21), **kw)
        self.session.add(tag)
        self.session.flush()
        return tag

    def contact(self, owner: Advisor | None = None, tags=(), **kw) -> Contact:
        n = self._n()
        kw.setdefault("first_name", "Олег")
        kw.setdefault("last_name", "Петров")
        kw.setdefault("company", f"Компания {n}")
        kw.setdefault("email", f"client{n}@client.example.com")
        # A contact on record has its 38-FZ consent (REQUIRE_CONSENT); pass consent_at=None for one without.
        kw.setdefault("consent_at", datetime(2026, 1, 15, tzinfo=UTC))
        kw.setdefault("consent_source", "визитка на выставке" if kw["consent_at"] else "")
        contact = Contact(owner=owner or self.advisor(), **kw)
        contact.tags = list(tags)
        self.session.add(contact)
        self.session.flush()
        return contact

    def offer(self, tag: Tag | None = None, year: int | None = None, **kw) -> Offer:
        kw.setdefault("subject", "Подарки к празднику")
        kw.setdefault("body", "{{ greeting }}\n\nКаталог: {{ links.catalog }}\n\n{{ advisor.signature }}\n\n"
                              "Отписаться: {{ unsubscribe_url }}")
        kw.setdefault("status", OfferStatus.READY)
        offer = Offer(tag=tag or self.tag(), year=year or date.today().year, **kw)
        self.session.add(offer)
        self.session.flush()
        return offer


@pytest.fixture
def factory(session):
    return Factory(session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SMTPSink:
    host: str
    port: int
    messages: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message; subclass it to answer otherwise."""

    def __init__(self):
        self.received: list = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.received.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def serve_smtp(handler: RecordingHandler):
    """A real SMTP server (aiosmtpd) for `handler` on a free local port, stopped afterwards."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SMTPSink(host="127.0.0.1", port=port, messages=handler.received)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a random local port; received envelopes in .messages."""
    with serve_smtp(RecordingHandler()) as sink:
        yield sink


def process_env(settings, **extra: str) -> dict:
    """The environment for a real process (worker, scheduler, a script) on this run's database and Redis."""
    return {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "MAIL_URL": settings.mail_url, "SECRET_KEY": settings.secret_key,
            "INSTANCE_PATH": str(settings.instance_path), "PUBLIC_URL": settings.public_url,
            "PYTHONUNBUFFERED": "1", **extra}


@contextlib.contextmanager
def database_gone(settings, tmp_path):
    """The app's database unreachable (a SQLite file that cannot be opened, or a PostgreSQL port nobody
    listens on) inside the block; the real one is back afterwards."""
    from campaigns.db import make_engine

    if settings.database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'gone' / 'campaigns.db'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=2"
    real, gone = db.engine, make_engine(url)
    db.session.remove()
    db.engine = gone
    db.session.configure(bind=gone)
    try:
        yield
    finally:
        db.session.remove()
        db.engine = real
        db.session.configure(bind=real)
        gone.dispose()


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
    yield server
    server.stop()


@pytest.fixture
def imap_account(imap_server):
    """A fresh, empty mailbox on the private Dovecot."""
    return imap_server.account()
