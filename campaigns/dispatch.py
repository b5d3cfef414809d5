"""Dispatch: due deliveries become QUEUED and go to RQ's "mail" queue, up to BATCH_SIZE a job.

The database is the truth, Redis only the transport (see sending for the life of a delivery):
a job carries only delivery ids, and the claim in sending makes a duplicate job harmless.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from rq import Queue
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from .config import Settings
from .db import utcnow
from .extensions import redis_client
from .models import Delivery, DeliveryStatus

MAIL_QUEUE = "mail"
SEND_JOB = "campaigns.tasks.send_delivery_job"
BATCH_JOB = "campaigns.tasks.send_batch_job"
# Deliveries per job: RQ's own bookkeeping (several Redis round trips, the app context) is paid
# once for them; each is still claimed, sent and recorded on its own.
BATCH_SIZE = 20
MAIL_MARGIN = 5  # seconds per mail beyond the SMTP timeout in a job's limit (job_timeout)


def mail_queue(connection=None):

    return Queue(MAIL_QUEUE, connection=connection or redis_client())


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def job_timeout(settings: Settings, count: int) -> int:
    """Seconds a job of `count` deliveries may run before RQ ends it: each mail's SMTP conversation
    may wait up to the MAIL_URL timeout, plus MAIL_MARGIN for composing and recording it, and one
    more such share for opening the connection. What the end of a job leaves: see send_batch."""
    return math.ceil((count + 1) * (settings.mail.timeout + MAIL_MARGIN))


def _job(delivery_ids: list[int], settings: Settings) -> tuple[str, object, dict]:
    """(function, argument, options) of the RQ job for these deliveries: a send job for one, a batch job for more."""
    common = dict(job_timeout=job_timeout(settings, len(delivery_ids)), failure_ttl=7 * 86400)
    if len(delivery_ids) == 1:
        return SEND_JOB, delivery_ids[0], dict(job_id=job_id(delivery_ids[0]), result_ttl=600, **common)
    # result_ttl=0: nothing reads a batch's result, and storing it is a Redis write per job.
    return BATCH_JOB, list(delivery_ids), dict(job_id=batch_job_id(delivery_ids), result_ttl=0, **common)


def enqueue(queue, delivery_id: int, settings: Settings, delay: float = 0) -> None:
    enqueue_batch(queue, [delivery_id], settings, delay)


def batch_job_id(delivery_ids: list[int]) -> str:
    if len(delivery_ids) == 1:
        return job_id(delivery_ids[0])
    return f"deliveries-{delivery_ids[0]}-{delivery_ids[-1]}-{len(delivery_ids)}"


def enqueue_batch(queue, delivery_ids: list[int], settings: Settings, delay: float = 0) -> None:
    """One job for a few deliveries (see send_batch); a single one is an ordinary send job."""
    func, arg, options = _job(delivery_ids, settings)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), func, arg, **options)
    else:
        queue.enqueue(func, arg, **options)


def enqueue_all(queue, delivery_ids, settings: Settings) -> None:
    """Jobs of up to BATCH_SIZE deliveries each, in id order, sent in one pipeline."""
    ids = sorted(delivery_ids)
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(ids), BATCH_SIZE):
            func, arg, options = _job(ids[start : start + BATCH_SIZE], settings)
            queue.enqueue(func, arg, pipeline=pipe, **options)
        pipe.execute()


def dispatch(session: Session, settings: Settings, now: datetime | None = None, queue=None, limit: int | None = None) -> int:
    """Mark due deliveries QUEUED and enqueue RQ jobs carrying their ids, up to BATCH_SIZE a job.

    Commits before enqueuing: a job must never find its row not yet queued. A crash between
    the commit and the enqueue leaves QUEUED rows with no job; the reconciler re-queues them.
    """
    now = now or utcnow()
    # A few minutes of the relay's rate per tick: the backlog in Redis stays short.
    limit = limit or max(settings.relay_rate_per_minute * 3, 50)
    due = or_(
        and_(Delivery.status == DeliveryStatus.PLANNED, Delivery.send_at <= now),
        and_(Delivery.status == DeliveryStatus.RETRYING, Delivery.next_attempt_at <= now),
    )
    ids = session.scalars(
        select(Delivery.id).where(due).order_by(func.coalesce(Delivery.next_attempt_at, Delivery.send_at)).limit(limit)
    ).all()
    if not ids:
        session.commit()  # ends the read; unlike a rollback it leaves the caller's objects loaded
        return 0
    queued = session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status.in_((DeliveryStatus.PLANNED, DeliveryStatus.RETRYING)))
        .values(status=DeliveryStatus.QUEUED, updated_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    enqueue_all(queue or mail_queue(), queued, settings)
    return len(queued)
