"""The scheduler: RQ's own cron scheduler, started by `python worker.py --scheduler`.

Each entry enqueues a job; the job does its work from the database, so a missed tick
(downtime) is caught up by the next one. Only one scheduler should run: `start()` takes
a Redis lock and waits for it when another one holds it.
"""
from __future__ import annotations

import contextlib
import logging
import time

from redis import Redis
from redis.exceptions import LockError
from rq.cron import CronScheduler

from . import tasks

QUEUE = "default"
LOCK_KEY = "campaigns:scheduler:lock"
LOCK_TTL = 60

log = logging.getLogger(__name__)


def build(connection: Redis) -> CronScheduler:
    scheduler = CronScheduler(connection=connection)
    scheduler.register(tasks.scheduler_heartbeat, QUEUE, interval=30)
    return scheduler


def start(connection: Redis) -> None:
    """Run the scheduler while holding the leader lock (a second one waits)."""
    lock = connection.lock(LOCK_KEY, timeout=LOCK_TTL, thread_local=False)
    while not lock.acquire(blocking=False):
        log.info("another scheduler holds the lock; waiting")
        time.sleep(LOCK_TTL / 3)
    import threading

    stop = threading.Event()

    def keep_lock():
        while not stop.wait(LOCK_TTL / 3):
            lock.extend(LOCK_TTL, replace_ttl=True)

    threading.Thread(target=keep_lock, daemon=True).start()
    try:
        build(connection).start()
    finally:
        stop.set()
        with contextlib.suppress(LockError):  # it may have expired already
            lock.release()
