"""RQ job functions: thin shells that run one domain function inside the app context.

Jobs carry only ids; the database holds the truth. The app is built once per worker
process and reused by every job it runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

from flask import current_app
from rq import get_current_job
from sqlalchemy import text

from . import (
    board,
    clicks,
    create_app,
    digest,
    dispatch,
    inbound,
    inhand,
    outage,
    pacing,
    planner,
    reconcile,
    reminders,
    replies,
    sending,
    webhooks,
)
from .config import current_settings
from .db import db, utcnow
from .extensions import redis_client
from .import_jobs import run_step, sweep_uploads, upload_dir

_app = None
log = logging.getLogger(__name__)
_database = outage.Outage("Database", log)
LOCKED_PAUSES = (0.2, 0.5, 1.0, 2.0)  # a periodic job that meets SQLite locked runs again after these


def get_app():
    global _app
    if _app is None:
        _app = create_app()
    return _app


def in_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with get_app().app_context():
            return func(*args, **kwargs)

    return wrapper


def periodic(func):
    """A job the scheduler enqueues again within minutes: while the database is unreachable it says so
    once (and once when it is back) and does nothing, rather than failing with a traceback each time."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):

        with get_app().app_context():
            for pause in (*LOCKED_PAUSES, None):
                try:
                    result = func(*args, **kwargs)
                    if _database.down:  # the job may not have needed the database: ask it before saying it is back
                        db.session.execute(text("SELECT 1"))
                    break
                except Exception as exc:
                    if outage.database_locked(exc):  # SQLite busy with another writer: not an outage, try again
                        db.session.rollback()
                        if pause is None:
                            log.info("%s: the database stayed locked by another writer; the next run does it", func.__name__)
                            return None
                        time.sleep(pause)
                        continue
                    if not outage.database_down(exc):
                        raise
                    _database.failed(exc)
                    return None
        _database.ok()
        return result

    return wrapper


SCHEDULER_HEARTBEAT_KEY = "campaigns:scheduler:heartbeat"


@in_app_context
def scheduler_heartbeat() -> float:
    """Proves that the scheduler ticks and a worker runs its jobs (shown by /healthz)."""

    now = time.time()
    redis_client().set(SCHEDULER_HEARTBEAT_KEY, now, ex=3600)
    return now


@periodic
def flush_clicks() -> int:
    """Write the clicks queued in Redis by /c/<token> (every few seconds)."""

    return clicks.flush_clicks(db.session, redis_client())


@periodic
def send_morning_digests() -> int:
    """Each advisor's hot list by mail, once per working day from 08:30 local time."""

    return digest.send_due_digests(db.session, current_settings())


# --- the delivery pipeline (planner, pacing, sending, bounces) ---------------------------


def _settings():

    return current_settings()


@periodic
def plan_deliveries() -> str:
    """Plan today's due mailings and pace them (idempotent: runs every 10 minutes and at 07:00)."""

    settings = _settings()
    today = utcnow().astimezone(settings.timezone).date()
    result = planner.plan_day(db.session, today, settings)
    paced = pacing.pace_day(db.session, today, settings)
    db.session.commit()
    clicks.publish_link_targets(db.session, redis_client())  # for the redirect while the database is away
    return f"{result.summary()}; paced {paced.paced}, rolled over {paced.rolled}"


@periodic
def refresh_board_counts() -> int:
    """The readiness board's audience counts for a big database (board.LIVE_LIMIT), every 10 minutes."""

    rows = board.refresh_counts(db.session)
    db.session.commit()
    return rows


@periodic
def send_mailing_notices() -> int:
    """Reminders before a send date, «ждёт предложения» each working morning, «пропущено» once."""

    return reminders.run(db.session, _settings())


@periodic
def dispatch_deliveries() -> int:
    """Hand the deliveries that are due now to the "mail" queue."""

    return dispatch.dispatch(db.session, _settings())


def _in_hand(delivery_ids: list[int]):
    """The running mail job's deliveries, published for the reconciler (inhand.py) until the job's
    limit: its start + RQ's timeout + inhand.MARGIN. Outside an RQ job (tests, a shell): nothing."""

    job = get_current_job()
    if job is None:
        return contextlib.nullcontext()
    started = job.started_at.timestamp() if job.started_at else time.time()
    until = started + (job.timeout or 180) + inhand.MARGIN
    return inhand.holding(job.connection, job.id, delivery_ids, until)


@in_app_context
def send_delivery_job(delivery_id: int) -> str:
    """Send one delivery (the job carries only its id); over the relay's rate it comes back later."""

    with _in_hand([delivery_id]):
        result = sending.send_delivery(db.session, delivery_id, _settings())
    webhooks.delivery_outcomes([(delivery_id, result.outcome.value)])
    if result.outcome == sending.Outcome.THROTTLED:
        dispatch.enqueue(dispatch.mail_queue(), delivery_id, _settings(), delay=result.delay)
    return result.outcome.value


@in_app_context
def send_batch_job(delivery_ids: list[int]) -> str:
    """Send a few deliveries (sending.send_batch); those over the relay's rate come back later as one job."""

    with _in_hand(delivery_ids):
        results, rest, delay = sending.send_batch(db.session, delivery_ids, _settings())
    webhooks.delivery_outcomes(zip(delivery_ids, (r.outcome.value for r in results), strict=False))
    if rest:
        dispatch.enqueue_batch(dispatch.mail_queue(), rest, _settings(), delay=delay)
    summary = batch_summary(results, rest)
    log.info("mail batch: %s", summary)  # the console's one line per batch (RQ's own job lines are quiet)
    return summary


def batch_summary(results, rest) -> str:
    """«5 sent», «3 sent, 1 retrying, 2 later»: what a batch of mails came to, in one line."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items(), key=lambda item: item[0] != "sent")]
    if rest:
        parts.append(f"{len(rest)} later (relay rate)")
    return ", ".join(parts) or "nothing to send"


@periodic
def reconcile_deliveries() -> str:
    """Repair after a Redis flush or a dead worker (see reconcile.reconcile)."""

    result = reconcile.reconcile(db.session, _settings())
    return f"unknown {result.unknown}, requeued {result.requeued}, dispatched {result.dispatched}"


@periodic
def read_bounces() -> int:
    """Read the system mailbox (INBOUND_URL): bounce reports, complaints, mailto unsubscribes."""

    return inbound.read_system_mailbox(db.session, _settings())


@periodic
def poll_replies() -> int:
    """Read the advisors' connected mailboxes for the clients' replies (replies.py)."""

    return replies.poll_all(db.session, _settings())


@periodic
def sweep_import_uploads() -> int:
    """Remove uploaded import files whose import expired unused (nothing personal kept on disk, 152-FZ)."""

    return sweep_uploads(redis_client(), upload_dir(current_app.instance_path))


@in_app_context
def import_contacts(import_id: str, step: str) -> None:
    """Preview ("preview") or write ("commit") an uploaded contact file; progress goes to Redis."""

    run_step(db.session, redis_client(), import_id, step)
