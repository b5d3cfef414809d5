"""Helpers the tests share: the test password, a logged-in client, small factories, a real SMTP
server, the environment for real processes, an unreachable database.

Imported by the tests and by conftest.py, which holds only the fixtures built from them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import create_engine, text

from campaigns.accounts import create_user, hash_password
from campaigns.db import db
from campaigns.models import Advisor, Contact, Offer, OfferStatus, Role, Tag, TagKind

PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)  # scrypt is slow on purpose: hash once per run


def with_search_path(url: str, schema: str) -> str:
    """The PostgreSQL URL with its search_path set to `schema` (each run works in a schema of its own)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def waits_for_commit(other, target) -> bool:
    """Runs `target` in a thread of its own while the session `other` keeps its transaction open for
    a second, then commits and closes `other` and lets `target` finish. True when `target` was still
    waiting for `other` at that moment (a lock held by `other`'s transaction)."""
    worker = threading.Thread(target=target)
    try:
        worker.start()
        worker.join(1.0)
        waited = worker.is_alive()
        other.commit()
    finally:
        other.close()
    worker.join(30)
    return waited


@contextlib.contextmanager
def private_schema(base: str, prefix: str):
    """A PostgreSQL schema of its own on `base` for the block: yields the URL that works in it,
    drops the schema with everything in it afterwards."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
        kw.setdefault("password_hash", PASSWORD_HASH)
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
        tag = Tag(
            name=name or f"Тег {n}",
            kind=kw.pop("kind", TagKind.INDUSTRY),
            rule=kw.pop("rule", "2 sun aug"),
            lead_days=kw.pop("lead_days", 21),
            **kw,
        )
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
        kw.setdefault(
            "body",
            "{{ greeting }}\n\nКаталог: {{ links.catalog }}\n\n{{ advisor.signature }}\n\nОтписаться: {{ unsubscribe_url }}",
        )
        kw.setdefault("status", OfferStatus.READY)
        offer = Offer(tag=tag or self.tag(), year=year or date.today().year, **kw)
        self.session.add(offer)
        self.session.flush()
        return offer


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


def process_env(settings, **extra: str) -> dict:
    """The environment for a real process (worker, scheduler, a script) on this run's database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "MAIL_URL": settings.mail_url,
        "SECRET_KEY": settings.secret_key,
        "INSTANCE_PATH": str(settings.instance_path),
        "PUBLIC_URL": settings.public_url,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


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
    db.registry.remove()
    db.engine = gone
    db.registry.configure(bind=gone)
    try:
        yield
    finally:
        db.registry.remove()
        db.engine = real
        db.registry.configure(bind=real)
        gone.dispose()


class Receiver:
    """A real HTTP server on a random local port that records every POST (webhook tests)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/campaigns"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """A wall clock the test moves by hand, installed where the log-in limits read the time: the
    moving windows in Redis (limits' storage stamps each entry with `time.time()`) and signin's wait."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def install(self, monkeypatch) -> Clock:
        import limits.storage.redis

        from campaigns import signin

        monkeypatch.setattr(limits.storage.redis, "time", self)
        monkeypatch.setattr(signin, "time", self)
        return self
