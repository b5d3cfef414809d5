"""What live workers have in hand: how the reconciler tells a mail job still being worked from one
whose worker died, without waiting for the job's time limit.

A mail job publishes, before it claims anything, the delivery ids it carries and the moment its
time limit ends (its start + RQ's job timeout + MARGIN) under a key of its own that lives TTL
seconds. A thread of the worker process renews the key every BEAT seconds while the job runs,
and the job deletes it when it ends, however it ends. A worker killed (kill -9, a crash, the
machine gone) renews nothing: within TTL its key is gone. When Redis restarts empty, every live
worker publishes again within BEAT, so the reconciler only trusts what it reads from a Redis that
has been up for SETTLE seconds at least (`in_hand` says None before that).

Nothing here ever sends or resends: the reconciler uses it only to leave a live worker's rows
alone, and to act at once on the rows of a worker that is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator

from .outage import REDIS_DOWN

KEY_PREFIX = "campaigns:inhand:"
BEAT = 2  # seconds between renewals
TTL = 10  # seconds a key outlives its last renewal
SETTLE = TTL + 2 * BEAT  # seconds a restarted Redis needs before its keys tell the whole story
MARGIN = 30  # seconds after a job's time limit before its rows count as abandoned whatever Redis says

log = logging.getLogger(__name__)
_held: dict[str, tuple[object, str]] = {}  # key → (Redis connection, value), this process's jobs
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _publish(connection, key: str, value: str) -> None:
    try:
        connection.set(key, value, ex=TTL)
    except REDIS_DOWN:
        pass  # the worker's own outage handling says so; the next beat tries again
    except Exception:  # never let a renewal take the thread down
        log.debug("renewing %s failed", key, exc_info=True)


def _beat() -> None:
    while True:
        time.sleep(BEAT)
        with _lock:
            held = list(_held.items())
        for key, (connection, value) in held:
            _publish(connection, key, value)


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_beat, name="campaigns-inhand", daemon=True)
            _thread.start()


@contextlib.contextmanager
def holding(connection, job_id: str, delivery_ids: list[int], until: float) -> Iterator[None]:
    """While the block runs, `delivery_ids` are in this live process's hand until `until` (epoch seconds)."""
    key = f"{KEY_PREFIX}{job_id}:{uuid.uuid4().hex[:8]}"
    value = json.dumps({"ids": list(delivery_ids), "until": until})
    _publish(connection, key, value)  # before the first claim: a claimed row is always in a hand first
    with _lock:
        _held[key] = (connection, value)
    _ensure_thread()
    try:
        yield
    finally:
        with _lock:
            _held.pop(key, None)
        with contextlib.suppress(Exception):
            connection.delete(key)


def in_hand(connection, now: float) -> set[int] | None:
    """Delivery ids that live workers hold and whose job is still within its limit at `now`; None when
    Redis has been up for less than SETTLE seconds (live workers may not have published again yet)."""
    if int(connection.info("server").get("uptime_in_seconds", 0)) < SETTLE:
        return None
    keys = list(connection.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
    ids: set[int] = set()
    for start in range(0, len(keys), 500):
        for raw in connection.mget(keys[start : start + 500]):
            if raw is None:
                continue  # expired between the scan and the read
            data = json.loads(raw)
            if data["until"] >= now:
                ids.update(int(i) for i in data["ids"])
    return ids
