"""Engine, session and declarative Base.

One `db` object, created unbound and attached in create_app(). The session is scoped
to the thread and removed when the app context ends, so a web request and an RQ job
each get a fresh one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar, cast

from sqlalchemy import DateTime, LargeBinary, MetaData, String, create_engine, event, literal
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from .config import settings_of

# Deterministic constraint names: Alembic can then alter them on SQLite (batch mode).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger(__name__)
T = TypeVar("T")
# Pauses between the tries of retry_on_lost_connection: five tries within about four seconds.
RECONNECT_PAUSES = (0.2, 0.5, 1.0, 2.0)


def retry_on_lost_connection(session, work: Callable[[], T], what: str, pauses=RECONNECT_PAUSES) -> T:
    """work(), tried again on a fresh connection when the database connection drops (or the database
    is briefly unavailable: down, restarting, SQLite locked), with short pauses; the last error is
    raised. Only for work that is safe to run twice: one transaction that commits at most once."""
    for pause in pauses:
        try:
            return work()
        except DBAPIError as exc:
            if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                raise
            session.rollback()  # gives the dead connection back; the next statement checks out a fresh one
            locked = "is locked" in str(exc.orig or exc)  # SQLite busy with another writer: contention, not an outage
            (log.info if locked else log.warning)(
                "%s: the database %s (%s); trying again in %.1f s",
                what,
                "is locked" if locked else "connection failed",
                str(exc.orig or exc).strip().splitlines()[0],
                pause,
            )
            time.sleep(pause)
    return work()


def address_hash(email: str | None) -> str | None:
    """The stop list's OLD form of an erased person's address: a plain SHA-256 ("sha256:…"), which
    anyone can test a guessed address against. Still matched so that people erased before the keyed
    form stay suppressed; nothing writes it any more (see keyed_address_hash). The same in SQL
    (campaigns_address_hash: migration 0014 on PostgreSQL, make_engine on SQLite)."""
    if email is None:
        return None
    return "sha256:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def hash_pads(secret_key: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer pads for the key derived from SECRET_KEY (for the stop list's
    hashes only): SQL computes the same HMAC from them (keyed_hash_sql), the key never appears."""
    key = hashlib.sha256(b"campaigns stop-list address hash\0" + secret_key.encode()).digest().ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _hmac_from_pads(inner: bytes, outer: bytes, email: str | None) -> str | None:
    if email is None:
        return None
    digest = hashlib.sha256(inner + email.strip().lower().encode()).digest()
    return "hmac:" + hashlib.sha256(outer + digest).hexdigest()


@functools.lru_cache(maxsize=8)
def _pad_states(secret_key: str):
    inner, outer = hash_pads(secret_key)
    return hashlib.sha256(inner), hashlib.sha256(outer)


def keyed_address_hash(email: str | None, secret_key: str) -> str | None:
    """How an erased person's address stays on the stop list (152-FZ): never mailed again, never
    readable, and not testable against a guess without SECRET_KEY ("hmac:…", HMAC-SHA256 with a key
    derived from it). Changing SECRET_KEY would set these people free: keep it. The pads' states are
    hashed once per key (an import checks a whole file's addresses)."""
    if email is None:
        return None
    inner, outer = (state.copy() for state in _pad_states(secret_key))
    inner.update(email.strip().lower().encode())
    outer.update(inner.digest())
    return "hmac:" + outer.hexdigest()


class keyed_hash_sql(FunctionElement):  # noqa: N801 — an SQL function, named like one
    """SQL: keyed_address_hash(email) with the pads as parameters, on PostgreSQL (its sha256) and
    SQLite (campaigns_keyed_hash, registered at connect) alike."""

    type = String()
    inherit_cache = True

    def __init__(self, email, secret_key: str):
        inner, outer = hash_pads(secret_key)
        super().__init__(literal(inner, LargeBinary()), literal(outer, LargeBinary()), email)


@compiles(keyed_hash_sql, "postgresql")
def _keyed_hash_postgresql(element, compiler, **kw):
    inner, outer, email = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"('hmac:' || encode(sha256({outer} || sha256({inner} || convert_to(lower(btrim({email})), 'UTF8'))), 'hex'))"


@compiles(keyed_hash_sql)
def _keyed_hash_default(element, compiler, **kw):
    inner, outer, email = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"campaigns_keyed_hash({inner}, {outer}, {email})"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            # The stop list's hashed addresses (erased people): PostgreSQL has it from migration 0014.
            dbapi_conn.create_function("campaigns_address_hash", 1, address_hash, deterministic=True)
            dbapi_conn.create_function("campaigns_keyed_hash", 3, _hmac_from_pads, deterministic=True)

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    def __init__(self):
        self.engine: Engine | None = None
        self.registry: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))
        # The thread's session. The registry answers every Session method for it, so code that takes a
        # Session takes db.session; the registry's own methods (configure, remove) are on db.registry.
        self.session = cast(Session, self.registry)

    def init_app(self, app) -> None:
        self.engine = make_engine(settings_of(app).database_url)
        self.registry.configure(bind=self.engine)
        app.teardown_appcontext(self._remove)

    def _remove(self, _exc=None) -> None:
        self.registry.remove()


db = Database()
