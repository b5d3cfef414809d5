"""Webhooks: admin registers endpoints and the events each wants; the system POSTs them, signed.

Events (EVENTS): `contact.clicked` (a person's click — never a scanner's), `contact.replied`,
`contact.unsubscribed`, `delivery.sent`, `delivery.failed`.

- `emit(event, payload)` — the one way in, for every module (the inbound-mail reader calls
  `emit("contact.replied", {...})`). It only enqueues an RQ job (`fan_out`) and never raises and
  never waits long: a Redis outage loses the event, not the mail being sent or the click being
  stored. With `session=` the event leaves only when that session commits (a rolled-back
  change tells nobody).
- `fan_out` finds the endpoints that want the event and enqueues one `deliver_job` each.
- `deliver` POSTs the JSON body with `X-Campaigns-Signature: t=<unix time>,v1=<hex>`, where
  v1 = HMAC-SHA256(endpoint secret, f"{t}.{body}"), logs the attempt (status, milliseconds),
  and on failure tries again after BACKOFF; an endpoint failing for FAIL_PAUSE (a day, no success
  in between) is paused and the admins get a mail.
- SSRF: only http and https; netguard.py checks the host (every address public unless its
  network is listed in WEBHOOK_ALLOWED_NETWORKS, CIDRs, comma-separated). The connection goes
  to the address that was checked (no second lookup), and redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cachetools import TTLCache
from flask import current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from sqlalchemy import delete, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from . import mails, netguard, transport
from .config import Settings, current_settings, settings_of
from .db import db
from .extensions import redis_client
from .models import Advisor, Delivery, Role, WebhookAttempt, WebhookEndpoint

log = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "contact.clicked": "клиент открыл ссылку письма (только люди, не сканеры)",
    "contact.replied": "клиент ответил на письмо",
    "contact.unsubscribed": "клиент отписался (любым способом)",
    "delivery.sent": "письмо отправлено",
    "delivery.failed": "письмо не доставлено",
}
QUEUE = "default"
TIMEOUT = 10  # seconds for one POST
BACKOFF = (30, 120, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600)  # seconds before attempt 2, 3, …
FAIL_PAUSE = timedelta(days=1)
ALLOWED_NETWORKS_ENV = "WEBHOOK_ALLOWED_NETWORKS"
SIGNATURE_HEADER = "X-Campaigns-Signature"
KEEP_ATTEMPTS = 200  # per endpoint, shown on the page

_subscribed: TTLCache = TTLCache(maxsize=1, ttl=30)


class WebhookError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


# ------------------------------------------------------------------ the signature


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, now: float | None = None) -> str:
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


# ------------------------------------------------------------------ where a POST may go


def check_url(url: str) -> str | None:
    """What is wrong with a target URL as typed (None: fine so far); the addresses are checked at each POST."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "Неверный адрес"
    if parts.scheme not in ("http", "https"):
        return "Адрес должен начинаться с http:// или https://"
    if not parts.hostname:
        return "В адресе нет имени сервера"
    if parts.username or parts.password:
        return "Логин и пароль в адресе не поддерживаются: проверяйте подпись"
    if port is not None and not 0 < port < 65536:
        return "Неверный порт"
    return None


def resolve(url: str) -> tuple[str, int, str]:
    """(host, port, the checked address to connect to) for a target URL; WebhookError when any address is refused."""
    problem = check_url(url)
    if problem:
        raise WebhookError({"url": problem})
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        checked = netguard.check_host(host, port, ALLOWED_NETWORKS_ENV)
    except netguard.Refused as exc:
        raise WebhookError({"url": str(exc)}) from None
    return host, port, checked.address


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]  # http.client's own


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> int:
    """POST to a checked address; the HTTP status (WebhookError when refused, OSError when unreachable)."""
    host, port, address = resolve(url)
    parts = urlsplit(url.strip())
    cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = cls(host, port, address, timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    finally:
        conn.close()


# ------------------------------------------------------------------ endpoints (admin)


def _clean_events(events) -> str:
    chosen = [e for e in EVENTS if e in set(events or ())]
    if not chosen:
        raise WebhookError({"events": "Выберите хотя бы одно событие"})
    return ",".join(chosen)


def create_endpoint(session: Session, admin: Advisor, url: str, events) -> WebhookEndpoint:
    """A new endpoint with its own signing secret (shown to admin on the page). The caller commits."""
    errors = {}
    if problem := check_url(url or ""):
        errors["url"] = problem
    try:
        chosen = _clean_events(events)
    except WebhookError as exc:
        errors.update(exc.errors)
    if errors:
        raise WebhookError(errors)
    endpoint = WebhookEndpoint(
        url=url.strip(), events=chosen, secret="whsec_" + secrets.token_urlsafe(32), created_by_id=admin.id
    )
    session.add(endpoint)
    session.flush()
    _subscribed.clear()
    return endpoint


def update_endpoint(endpoint: WebhookEndpoint, *, events=None, active: bool | None = None) -> None:
    if events is not None:
        endpoint.events = _clean_events(events)
    if active is not None:
        endpoint.active = active
        if active:  # resumed by admin: a fresh start
            endpoint.paused_at = None
            endpoint.failing_since = None
    _subscribed.clear()


def subscribed_events(session: Session) -> set[str]:
    """The events some live endpoint wants (cached for half a minute per process)."""
    cached = _subscribed.get("events")
    if cached is None:
        rows = session.scalars(
            select(WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True), WebhookEndpoint.paused_at.is_(None))
        )
        cached = _subscribed["events"] = {e for row in rows for e in row.split(",") if e}
    return cached


# ------------------------------------------------------------------ emitting


def _queue():

    return Queue(QUEUE, connection=redis_client())


# emit() has its own Redis client: half a second, no retries (redis-py's default retries with back-off
# would hold a mail being sent for seconds while Redis is away), and after a failure it does not try
# again for a few seconds, so a Redis outage costs the send path at most one short wait per EMIT_PAUSE.
EMIT_TIMEOUT = 0.5
EMIT_PAUSE = 5.0
_emit_clients: dict[str, object] = {}
_emit_down_until = [0.0]


def _emit_redis():

    url = settings_of(current_app).redis_url
    client = _emit_clients.get(url)
    if client is None:
        client = _emit_clients[url] = Redis.from_url(
            url, socket_timeout=EMIT_TIMEOUT, socket_connect_timeout=EMIT_TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
    return client


def _envelope(event: str, payload: dict) -> dict:
    return {"id": uuid.uuid4().hex, "event": event, "created_at": datetime.now(UTC).isoformat(), "data": payload}


def _enqueue(envelopes: list[dict]) -> None:

    if time.monotonic() < _emit_down_until[0]:
        log.warning("webhook events dropped, Redis was just unreachable (%s)", ", ".join(e["event"] for e in envelopes))
        return
    try:
        queue = Queue(QUEUE, connection=_emit_redis())
        for envelope in envelopes:
            queue.enqueue("campaigns.webhooks.fan_out_job", envelope, job_timeout=60, result_ttl=0, failure_ttl=24 * 3600)
    except Exception:  # noqa: BLE001 — an event must never break or slow what it reports
        _emit_down_until[0] = time.monotonic() + EMIT_PAUSE
        log.warning("webhook events not enqueued (%s)", ", ".join(e["event"] for e in envelopes), exc_info=True)


def emit(event: str, payload: dict, *, session: Session | None = None) -> None:
    """Tell the endpoints that want `event` (enqueue only; never raises). With `session`, after it commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    try:
        if session is not None:
            if event not in subscribed_events(session):
                return
            session.info.setdefault("webhook_events", []).append(_envelope(event, payload))
            return
        if event not in subscribed_events(db.session):
            return
    except Exception:  # noqa: BLE001 — the database is the caller's worry; enqueue and let fan_out decide
        log.debug("webhook subscriptions unknown", exc_info=True)
        if session is not None:
            session.info.setdefault("webhook_events", []).append(_envelope(event, payload))
            return
    _enqueue([_envelope(event, payload)])


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop("webhook_events", None)
    if pending:
        _enqueue(pending)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("webhook_events", None)


def delivery_outcomes(outcomes) -> None:
    """delivery.sent / delivery.failed for (delivery id, outcome) pairs just recorded by the sender."""
    for delivery_id, outcome in outcomes:
        if outcome in ("sent", "failed"):
            emit(f"delivery.{outcome}", {"delivery_id": delivery_id})


# ------------------------------------------------------------------ delivering


def _enrich(session: Session, envelope: dict) -> dict:
    """Delivery events leave the sender with an id only; the job adds what a receiver needs."""
    data = envelope["data"]
    if envelope["event"].startswith("delivery.") and "contact_id" not in data:
        delivery = session.get(Delivery, data["delivery_id"])
        if delivery is not None:
            data.update(
                {
                    "contact_id": delivery.contact_id,
                    "offer_id": delivery.offer_id,
                    "advisor_id": delivery.advisor_id,
                    "status": delivery.status.value,
                    "email": delivery.contact.email if delivery.contact else None,
                    "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
                    "error": delivery.last_error,
                }
            )
    return envelope


def fan_out(session: Session, envelope: dict, queue=None) -> int:
    """One deliver job per live endpoint that wants the event. Returns how many."""
    endpoints = [
        e
        for e in session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True), WebhookEndpoint.paused_at.is_(None))
        )
        if envelope["event"] in e.events.split(",")
    ]
    if not endpoints:
        return 0
    body = json.dumps(_enrich(session, envelope), ensure_ascii=False, separators=(",", ":"))
    queue = queue or _queue()
    for endpoint in endpoints:
        queue.enqueue(
            "campaigns.webhooks.deliver_job",
            endpoint.id,
            envelope["event"],
            envelope["id"],
            body,
            1,
            job_timeout=TIMEOUT * 3,
            result_ttl=0,
            failure_ttl=24 * 3600,
        )
    return len(endpoints)


def deliver(
    session: Session,
    endpoint_id: int,
    event: str,
    event_id: str,
    body: str,
    attempt: int = 1,
    *,
    queue=None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> bool:
    """One POST of one event to one endpoint, logged; a failure is tried again later. True on a 2xx."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active or endpoint.paused_at is not None:
        return False
    data = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Campaigns-Webhooks/1",
        "X-Campaigns-Event": event,
        "X-Campaigns-Delivery": event_id,
        SIGNATURE_HEADER: signature_header(endpoint.secret, data),
    }
    started = time.monotonic()
    status, error, retry = None, None, True
    try:
        status = post(endpoint.url, data, headers)
        if not 200 <= status < 300:
            error = f"ответ {status}"
    except WebhookError as exc:
        error, retry = exc.errors["url"], False  # the address is refused: asking again changes nothing
    except (OSError, http.client.HTTPException) as exc:
        error = f"нет соединения: {exc.__class__.__name__}: {exc}"[:500]
    elapsed = int((time.monotonic() - started) * 1000)
    now = now or datetime.now(UTC)
    session.add(
        WebhookAttempt(
            endpoint_id=endpoint.id,
            event=event,
            event_id=event_id,
            attempt=attempt,
            status_code=status,
            error=error,
            duration_ms=elapsed,
            created_at=now,
        )
    )
    session.flush()
    cutoff = session.scalar(
        select(WebhookAttempt.id)
        .where(WebhookAttempt.endpoint_id == endpoint.id)
        .order_by(WebhookAttempt.id.desc())
        .offset(KEEP_ATTEMPTS)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id, WebhookAttempt.id <= cutoff))
    if error is None:
        endpoint.failing_since = None
        session.commit()
        return True
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= FAIL_PAUSE:
        endpoint.paused_at = now
        _subscribed.clear()
        session.commit()
        _tell_admins(session, endpoint, error, settings)
        return False
    session.commit()
    if retry and attempt <= len(BACKOFF):
        try:
            (queue or _queue()).enqueue_in(
                timedelta(seconds=BACKOFF[attempt - 1]),
                "campaigns.webhooks.deliver_job",
                endpoint.id,
                event,
                event_id,
                body,
                attempt + 1,
                job_timeout=TIMEOUT * 3,
                result_ttl=0,
                failure_ttl=24 * 3600,
            )
        except Exception:  # noqa: BLE001
            log.warning("webhook retry not scheduled", exc_info=True)
    return False


def _tell_admins(session: Session, endpoint: WebhookEndpoint, error: str, settings: Settings | None) -> int:
    """Mail every active admin that the endpoint is paused. Returns how many mails went."""

    if settings is None:
        settings = current_settings()
    admins = session.scalars(
        select(Advisor).where(Advisor.active.is_(True), Advisor.role == Role.ADMIN).order_by(Advisor.id)
    ).all()
    try:
        with transport.open_transport(settings.mail) as conn:
            for admin in admins:
                conn.send(mails.webhook_paused_message(user=admin, endpoint=endpoint, error=error, settings=settings))
    except Exception:  # noqa: BLE001 — the page shows the pause all the same
        log.warning("admins not told about paused webhook %s", endpoint.id, exc_info=True)
        return 0
    return len(admins)


def recent_attempts(session: Session, endpoint_id: int, limit: int = 50) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.endpoint_id == endpoint_id)
            .order_by(WebhookAttempt.id.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------ RQ job shells


def fan_out_job(envelope: dict) -> int:
    from .tasks import get_app  # tasks imports this module (its jobs enqueue webhooks)

    with get_app().app_context():
        return fan_out(db.session, envelope)


def deliver_job(endpoint_id: int, event: str, event_id: str, body: str, attempt: int) -> bool:
    from .tasks import get_app  # tasks imports this module (its jobs enqueue webhooks)

    with get_app().app_context():
        return deliver(db.session, endpoint_id, event, event_id, body, attempt)
