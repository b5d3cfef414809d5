"""The scheduler: RQ's own cron scheduler, started by `python worker.py --scheduler`.

Each entry enqueues a job; the job does its work from the database, so a missed tick
(downtime, a Redis outage) is caught up by the next one. Only one scheduler schedules:
`start()` takes a Redis lock, renews it before every round and waits for it when another
one holds it or it was lost.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

from redis import Redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock
from rq.cron import CronScheduler

from . import outage, replies, tasks
from .config import settings_of

QUEUE = "default"
LOCK_KEY = "campaigns:scheduler:lock"
LOCK_TTL = 60

log = logging.getLogger(__name__)


def bounces_configured() -> bool:
    app = tasks.get_app()
    return bool(settings_of(app).bounce_url)


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
    # The board's counts above a board.LIVE_LIMIT contacts (the board shows their age).
    scheduler.register(tasks.refresh_board_counts, QUEUE, interval=600)
    scheduler.register(tasks.dispatch_deliveries, QUEUE, interval=30)
    # Every minute, like its grace (reconcile.GRACE): a dead worker's or a lost job's mail is picked up
    # within about two minutes.
    scheduler.register(tasks.reconcile_deliveries, QUEUE, interval=60)
    if bounces_configured():
        scheduler.register(tasks.read_bounces, QUEUE, interval=300)
    # Uploaded import files left behind by imports that expired unused (import_jobs.sweep_uploads).
    scheduler.register(tasks.sweep_import_uploads, QUEUE, interval=3600)
    # The advisors' mailboxes (replies.POLL_SECONDS); nothing to do until one is connected.
    scheduler.register(tasks.poll_replies, QUEUE, interval=replies.POLL_SECONDS)
    return scheduler


def start(connection: Redis, stop: threading.Event | None = None) -> None:
    """Schedule while holding the leader lock; wait for it otherwise, and ride out Redis outages.

    The lock is renewed by this loop itself, just before each round of enqueueing (never by a
    thread that could die while the loop goes on): a scheduler whose lock expired or vanished
    (Redis flushed or restarted empty) stops scheduling at once and competes for the lock like
    any waiting one, so two schedulers never enqueue side by side. SIGTERM or SIGINT stops it.
    """
    stop = stop or _stop_on_signals()
    scheduler = build(connection)
    lock = connection.lock(LOCK_KEY, timeout=LOCK_TTL, thread_local=False)
    redis = outage.Outage("Redis", log)
    holding = waiting = False
    try:
        while not stop.is_set():
            try:
                holding = _hold(lock, holding)
                if holding:
                    waiting = False
                    if scheduler.enqueue_jobs():
                        scheduler.save()
                    scheduler.heartbeat()
                    pause = min(scheduler.calculate_sleep_interval(), LOCK_TTL / 3)
                else:
                    if not waiting:
                        log.info("another scheduler holds the lock; waiting")
                        waiting = True
                    pause = LOCK_TTL / 3
                redis.ok()
            except outage.REDIS_DOWN as exc:
                pause = redis.failed(exc)
            stop.wait(pause)
    finally:
        if holding:
            with contextlib.suppress(LockError, *outage.REDIS_DOWN):  # it may have expired already
                lock.release()


def _hold(lock: Lock, holding: bool) -> bool:
    """Whether this scheduler holds the lock now: renewed if it did, taken if it is free."""
    if holding:
        try:
            lock.reacquire()  # atomic: only with our own token, so a lock taken over stays lost
            return True
        except LockNotOwnedError:
            log.warning("lost the scheduler lock; scheduling stops until this scheduler wins it again")
    if lock.acquire(blocking=False):
        log.info("holding the scheduler lock; scheduling")
        return True
    return False


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("stopping (signal %s)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
