"""Clicks: the fast path of /c/<token> and the batch writer (the verdicts: click_verdicts).

The redirect never waits on the database for writing: it pushes one compact JSON event
onto a Redis list (RPUSH) and answers. `flush_clicks` (an RQ job every few seconds) takes
the events in batches, judges each one human or bot, and writes them with one INSERT.

What Redis holds is only the last seconds of clicks: losing Redis loses those, nothing
else. An event is kept back until it is SETTLE_SECONDS old, so that every click of a
scanner's burst is in hand before any of them is judged.

The target of a link is read through a small in-process cache (link → offer and URL,
delivery → offer): a click on a cached link costs no database query. On a miss the view
reads one or two rows by primary key (a read, never a write) and caches them. While the
database is unreachable it reads the link from a copy in Redis instead (TARGETS_KEY, written
when an offer is saved or made ready and by every planning run), so the person is still
redirected and the click still queued.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import outage, webhooks
from .click_verdicts import TRAP_BURST_SECONDS, ClickEvent, burst_reason, classify
from .models import Click, Contact, Delivery, Link, Note, NoteKind, Verdict
from .tracking import TRAP_LINK_ID

log = logging.getLogger(__name__)

QUEUE_KEY = "campaigns:clicks:queue"
FLUSH_LOCK_KEY = "campaigns:clicks:flush-lock"
PROCESSING_KEY = "campaigns:clicks:processing"  # the batch being written, until its commit
TARGETS_KEY = "campaigns:clicks:targets"  # link id → [offer id, url, is trap]: for the redirect without the database
BATCH_SIZE = 5000

# An event waits this long in Redis so that its whole burst is judged together.
SETTLE_SECONDS = TRAP_BURST_SECONDS
# One click note per contact, mail and link per hour: a person clicking five times is one fact.
NOTE_EVERY = timedelta(hours=1)


# ---------------------------------------------------------------- the redirect's fast path

_cache_lock = threading.Lock()
_link_cache: TTLCache = TTLCache(maxsize=20_000, ttl=60)  # link id → (offer id, url, is_trap)
_delivery_cache: TTLCache = TTLCache(maxsize=200_000, ttl=3600)  # delivery id → offer id; never changes
TRAP = object()  # resolve_target()'s answer for the hidden trap link


def _cached(cache: TTLCache, key):
    with _cache_lock:
        return cache.get(key)


def _remember(cache: TTLCache, key, value) -> None:
    with _cache_lock:
        cache[key] = value


def forget_cached_targets() -> None:
    """Drop the cached targets (tests; a link edited in another process is seen within a minute)."""
    with _cache_lock:
        _link_cache.clear()
        _delivery_cache.clear()


UNCACHED = object()  # cached_target()'s answer when the database must be asked
UNKNOWABLE = object()  # resolve_target()'s answer when neither the database nor Redis can tell


def cached_target(delivery_id: int, link_id: int):
    """resolve_target() from the cache alone — or UNCACHED. The redirect's hot path: no session, one lock."""
    with _cache_lock:
        offer_id = _delivery_cache.get(delivery_id)
        link = _link_cache.get(link_id) if link_id != TRAP_LINK_ID else None
    if offer_id is None:
        return UNCACHED
    if link_id == TRAP_LINK_ID:
        return TRAP
    if link is None:
        return UNCACHED
    link_offer_id, url, is_trap = link
    if link_offer_id != offer_id:
        return None
    return TRAP if is_trap else url


def resolve_target(session: Session, delivery_id: int, link_id: int, redis: Redis | None = None):
    """The stored URL for a (delivery, link) pair, TRAP, None when they do not belong together,
    or UNKNOWABLE when the database is unreachable and Redis has no copy of the link either.

    A link the marketing edits is seen within the cache's minute; a link id of another
    offer, an unknown link or delivery is None — the view answers 404, never a redirect.
    """
    target = cached_target(delivery_id, link_id)
    if target is not UNCACHED:
        return target
    try:
        return _target_from_database(session, delivery_id, link_id)
    except SQLAlchemyError:
        with contextlib.suppress(SQLAlchemyError):
            session.rollback()
        return _target_without_database(redis, delivery_id, link_id)


def _target_from_database(session: Session, delivery_id: int, link_id: int):
    offer_id = _cached(_delivery_cache, delivery_id)
    if offer_id is None:
        offer_id = session.scalar(select(Delivery.offer_id).where(Delivery.id == delivery_id))
        if offer_id is None:
            return None
        _remember(_delivery_cache, delivery_id, offer_id)
    if link_id == TRAP_LINK_ID:
        return TRAP
    link = _cached(_link_cache, link_id)
    if link is None:
        row = session.execute(select(Link.offer_id, Link.url, Link.is_trap).where(Link.id == link_id)).first()
        if row is None:
            return None
        link = (row.offer_id, row.url, bool(row.is_trap))
        _remember(_link_cache, link_id, link)
    link_offer_id, url, is_trap = link
    if link_offer_id != offer_id:
        return None
    return TRAP if is_trap else url


def _target_without_database(redis: Redis | None, delivery_id: int, link_id: int):
    """The link's target from the process cache or the copy in Redis, while the database is away.

    The delivery's offer may be unknown then; the signed token vouches that this link went out in
    this delivery's mail, and the flush checks the pair again before it stores the click.
    """
    if link_id == TRAP_LINK_ID:
        return TRAP
    link = _cached(_link_cache, link_id)
    if link is None:
        try:
            raw = redis.hget(TARGETS_KEY, str(link_id)) if redis is not None else None
        except outage.REDIS_DOWN:
            raw = None
        if raw is None:
            return UNKNOWABLE
        offer_id, url, is_trap = json.loads(raw)
        link = (offer_id, url, bool(is_trap))
        _remember(_link_cache, link_id, link)
    link_offer_id, url, is_trap = link
    offer_id = _cached(_delivery_cache, delivery_id)
    if offer_id is not None and link_offer_id != offer_id:
        return None
    return TRAP if is_trap else url


def publish_link_targets(session: Session, redis: Redis, offer_id: int | None = None) -> int:
    """Copy link targets to Redis, where the redirect finds them while the database is away.

    Without `offer_id` every link (a few per offer: a small table), replacing the whole copy so
    deleted links leave it; with one, that offer's links after an edit. Redis being away costs
    only the copy (the next planning run writes it again): it is logged, never raised.
    """
    query = select(Link.id, Link.offer_id, Link.url, Link.is_trap)
    if offer_id is not None:
        query = query.where(Link.offer_id == offer_id)
    mapping: dict = {
        str(row.id): json.dumps([row.offer_id, row.url, bool(row.is_trap)], ensure_ascii=False) for row in session.execute(query)
    }
    try:
        pipe = redis.pipeline(transaction=True)
        if offer_id is None:
            pipe.delete(TARGETS_KEY)
        if mapping:
            pipe.hset(TARGETS_KEY, mapping=mapping)
        pipe.execute()
    except outage.REDIS_DOWN as exc:
        log.warning("link targets not copied to Redis (%s)", exc)
        return 0
    return len(mapping)


def record_click(
    redis: Redis, delivery_id: int, link_id: int, *, method: str, ip: str | None, user_agent: str | None, at: float | None = None
) -> None:
    """Queue one click for flush_clicks; a Redis failure costs the click, never the redirect."""
    event = {
        "d": delivery_id,
        "l": link_id,
        "t": round(at if at is not None else time.time(), 3),
        "m": method[:10],
        "ip": (ip or "")[:45],
        "ua": (user_agent or "")[:500],
    }
    try:
        redis.rpush(QUEUE_KEY, json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    except Exception:  # noqa: BLE001 — any Redis trouble: the person still gets the page
        log.exception("click of delivery %s not recorded", delivery_id)


# ------------------------------------------------------------------------- the batch writer


def _take(redis: Redis, limit: int) -> list[bytes]:
    """Move up to `limit` events from the queue's head to the processing list, atomically (LMOVE in MULTI).

    Only RPUSH adds to the queue and only the lock holder takes from it, so the length read
    first can only have grown by the time the transaction runs.
    """
    count = min(redis.llen(QUEUE_KEY), limit)
    if not count:
        return []
    pipe = redis.pipeline(transaction=True)
    for _ in range(count):
        pipe.lmove(QUEUE_KEY, PROCESSING_KEY, "LEFT", "RIGHT")
    return [item for item in pipe.execute() if item is not None]


def _done(redis: Redis, unripe_raw: list[bytes]) -> None:
    """After the commit: the unripe events back at the queue's head (in their order), the processing list gone."""
    pipe = redis.pipeline(transaction=True)
    if unripe_raw:
        pipe.lpush(QUEUE_KEY, *reversed(unripe_raw))
    pipe.delete(PROCESSING_KEY)
    pipe.execute()


def flush_clicks(session: Session, redis: Redis, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Write the queued clicks that have settled; returns how many were written.

    One flusher at a time (a Redis lock): the verdicts of a burst are judged together.
    Events younger than SETTLE_SECONDS go back to the queue for the next run. A batch stays
    in the processing list until its transaction is committed, so a flusher killed or failing
    in between loses nothing: the next run writes first what it left (skipping what it had
    already committed).
    """
    lock = redis.lock(FLUSH_LOCK_KEY, timeout=120, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    try:
        written = 0
        left = redis.lrange(PROCESSING_KEY, 0, -1)
        if left:
            log.warning("re-reading %d click events a stopped flush left behind", len(left))
            written, _ = _flush_batch(session, redis, now or datetime.now(UTC), left, leftover=True)
        while True:
            raw = _take(redis, batch_size)
            count, some_unripe = _flush_batch(session, redis, now or datetime.now(UTC), raw)
            written += count
            # Stop when the batch was not full or some of it is unripe: the next run judges the rest.
            if len(raw) < batch_size or some_unripe:
                return written
    finally:
        with contextlib.suppress(LockError):  # expired: the next run takes over
            lock.release()


def _flush_batch(session: Session, redis: Redis, now: datetime, raw: list, leftover: bool = False) -> tuple[int, bool]:
    """Write the ripe events of `raw` (the processing list); returns (written, some were unripe)."""
    if not raw:
        return 0, False
    events, unripe_raw, unripe = [], [], []
    cutoff = now - timedelta(seconds=SETTLE_SECONDS)
    for item in raw:
        try:
            event = ClickEvent.from_json(item)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed click event: %r", item[:200])
            continue
        if event.at <= cutoff:
            events.append(event)
        else:
            unripe.append(event)
            unripe_raw.append(item)
    if leftover:
        events = _not_stored(session, events)
    try:
        written = _write(session, events, unripe)
        session.commit()
    except Exception:
        session.rollback()  # the batch stays in the processing list: the next run writes it
        raise
    _done(redis, unripe_raw)
    return written, bool(unripe)


def _not_stored(session: Session, events: list[ClickEvent]) -> list[ClickEvent]:
    """The events a stopped flush had not committed yet (a click is its delivery, link and moment)."""
    if not events:
        return events
    stored = {
        (row.delivery_id, row.link_id or TRAP_LINK_ID, row.clicked_at)
        for row in session.execute(
            select(Click.delivery_id, Click.link_id, Click.clicked_at).where(
                Click.delivery_id.in_({e.delivery_id for e in events}),
                Click.clicked_at.between(min(e.at for e in events), max(e.at for e in events)),
            )
        )
    }
    return [e for e in events if (e.delivery_id, e.link_id, e.at) not in stored]


def _write(session: Session, events: list[ClickEvent], unripe: list[ClickEvent]) -> int:
    if not events:
        return 0
    delivery_ids = {e.delivery_id for e in events}
    # The contact's owner goes onto the click (the hot list's index). FOR SHARE (PostgreSQL) makes a
    # transfer of these contacts wait for this batch, or this batch wait for it and read the new
    # owner: either way no click keeps an old owner (transfer_contacts locks the contacts first).
    deliveries = {
        row.id: row
        for row in session.execute(
            select(Delivery.id, Delivery.contact_id, Delivery.offer_id, Delivery.sent_at, Contact.owner_id)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.id.in_(delivery_ids))
            .order_by(Contact.id)
            .with_for_update(read=True, of=Contact)
        )
    }
    offer_ids = {d.offer_id for d in deliveries.values()}
    links: dict = (
        {
            row.id: row
            for row in session.execute(
                select(Link.id, Link.offer_id, Link.name, Link.label, Link.is_trap).where(Link.offer_id.in_(offer_ids))
            )
        }
        if offer_ids
        else {}
    )
    offer_links: dict[int, set[int]] = defaultdict(set)
    for link in links.values():
        if not link.is_trap:
            offer_links[link.offer_id].add(link.id)

    earliest = min(e.at for e in events) - timedelta(seconds=TRAP_BURST_SECONDS)
    timelines: dict[int, list[ClickEvent]] = defaultdict(list)
    stored_human: list[tuple[int, ClickEvent]] = []
    for row in session.execute(
        select(Click.id, Click.delivery_id, Click.link_id, Click.clicked_at, Click.method, Click.verdict).where(
            Click.delivery_id.in_(delivery_ids), Click.clicked_at >= earliest
        )
    ):
        event = ClickEvent(row.delivery_id, row.link_id or TRAP_LINK_ID, row.clicked_at, row.method, "", "")
        timelines[row.delivery_id].append(event)
        if row.verdict == Verdict.HUMAN:
            stored_human.append((row.id, event))
    for event in events + unripe:
        timelines[event.delivery_id].append(event)

    rows, human = [], []
    for event in events:
        delivery = deliveries.get(event.delivery_id)
        if delivery is None:
            continue  # the delivery was deleted since
        link = links.get(event.link_id)
        if event.link_id != TRAP_LINK_ID and (link is None or link.offer_id != delivery.offer_id):
            continue  # the link was deleted since (the view checked it at click time)
        is_trap = event.link_id == TRAP_LINK_ID or bool(link and link.is_trap)
        verdict, reason = classify(
            event,
            sent_at=delivery.sent_at,
            timeline=timelines[event.delivery_id],
            link_ids=offer_links[delivery.offer_id],
            is_trap=is_trap,
        )
        rows.append(
            {
                "delivery_id": event.delivery_id,
                "link_id": None if event.link_id == TRAP_LINK_ID else event.link_id,
                "contact_id": delivery.contact_id,
                "owner_id": delivery.owner_id,
                "clicked_at": event.at,
                "method": event.method,
                "ip": event.ip or None,
                "user_agent": event.user_agent or None,
                "verdict": verdict,
                "reason": reason,
            }
        )
        if verdict == Verdict.HUMAN:
            human.append((event, delivery, link))
    if rows:
        session.execute(insert(Click), rows)
    _correct_stored(session, stored_human, timelines, deliveries, offer_links)
    _note_human_clicks(session, human)
    for event, delivery, link in human:  # sent when this batch commits (webhooks.emit)
        webhooks.emit(
            "contact.clicked",
            {
                "contact_id": delivery.contact_id,
                "owner_id": delivery.owner_id,
                "delivery_id": delivery.id,
                "offer_id": delivery.offer_id,
                "link": link.name if link else None,
                "clicked_at": event.at.isoformat(),
            },
            session=session,
        )
    return len(rows)


def _correct_stored(session: Session, stored_human, timelines, deliveries, offer_links) -> None:
    """A click that arrived late may reveal a burst an earlier flush judged human: correct it.

    Its click note stays: it is history, and a burst split across flushes is rare (SETTLE_SECONDS).
    """
    for click_id, event in stored_human:
        delivery = deliveries[event.delivery_id]
        reason = burst_reason(event, timelines[event.delivery_id], offer_links[delivery.offer_id])
        if reason:
            session.execute(update(Click).where(Click.id == click_id).values(verdict=Verdict.BOT, reason=reason))


def _note_human_clicks(session: Session, human) -> None:
    """A click note the advisor sees; at most one per contact, mail and link per hour."""
    if not human:
        return
    since = min(event.at for event, _, _ in human) - NOTE_EVERY
    recent: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for row in session.execute(
        select(Note.delivery_id, Note.body, Note.created_at).where(
            Note.kind == NoteKind.CLICK,
            Note.delivery_id.in_({d.id for _, d, _ in human}),
            Note.created_at >= since,
        )
    ):
        recent[(row.delivery_id, row.body)].append(row.created_at)
    for event, delivery, link in sorted(human, key=lambda item: item[0].at):
        body = f"Открыл ссылку «{link.label or link.name}»"
        times = recent[(delivery.id, body)]
        if any(abs(event.at - t) < NOTE_EVERY for t in times):
            continue
        times.append(event.at)
        session.add(
            Note(contact_id=delivery.contact_id, kind=NoteKind.CLICK, body=body, delivery_id=delivery.id, created_at=event.at)
        )
    session.flush()
