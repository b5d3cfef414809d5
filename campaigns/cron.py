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


def bounces_configured() -> bool:
    app = tasks.get_app()
    return bool(app.config["SETTINGS"].bounce_url)


def build(connection: Redis) -> CronScheduler:
    scheduler = CronScheduler(connection=connection)
    scheduler.register(tasks.scheduler_heartbeat, QUEUE, interval=30)
    scheduler.register(tasks.flush_clicks, QUEUE, interval=5)
    # Every 10 minutes rather than "30 8 * * *": rq cron reads the worker host's clock zone,
    # the job reads TIMEZONE and the working-day calendar, and a missed tick is caught up.
    scheduler.register(tasks.send_morning_digests, QUEUE, cron="*/10 * * * *")
    # The delivery pipeline. Planning twice plans once, so it also runs every 10 minutes: a
    # missed 07:00 tick (downtime) and an offer that became ready are caught up soon after.
    scheduler.register(tasks.plan_deliveries, QUEUE, cron="0 7 * * *")
    scheduler.register(tasks.plan_deliveries, QUEUE, interval=600)
    # Recorded in the database (sent_notices): a tick twice, or after a Redis flush, sends once.
    scheduler.register(tasks.send_mailing_notices, QUEUE, cron="*/10 * * * *")
    scheduler.register(tasks.dispatch_deliveries, QUEUE, interval=30)
    scheduler.register(tasks.reconcile_deliveries, QUEUE, interval=300)
    if bounces_configured():
        scheduler.register(tasks.read_bounces, QUEUE, interval=300)
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
