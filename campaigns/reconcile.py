"""Reconciling: repair what Redis or a dead worker lost; the database says what should be happening."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rq.job import Job
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from . import inhand, pacing
from .config import Settings
from .db import utcnow
from .dispatch import BATCH_JOB, BATCH_SIZE, SEND_JOB, dispatch, enqueue_all, job_timeout, mail_queue
from .models import Delivery, DeliveryStatus, Note, NoteKind

# A row queued or claimed this recently is left alone whatever Redis says: its job may be on its way
# into Redis (dispatch commits before it enqueues) or just starting on a worker.
GRACE = timedelta(minutes=1)
ABANDONED = "обработчик остановился во время отправки: неизвестно, ушло ли письмо"


def longest_job(settings: Settings) -> timedelta:
    """The longest any mail job may run (a full batch) plus inhand.MARGIN: a row SENDING for longer has
    certainly been given up by its job, whatever Redis remembers."""
    return timedelta(seconds=job_timeout(settings, BATCH_SIZE) + inhand.MARGIN)


@dataclass
class ReconcileResult:
    unknown: int = 0
    requeued: int = 0
    dispatched: int = 0
    paced: int = 0


def _waiting_in_rq(queue, ids: Sequence[int], now: datetime, started_count: bool) -> set[int]:
    """Ids whose RQ job still waits (queued, scheduled or deferred), or has just started (within
    GRACE; any started job when `started_count`, i.e. when live workers' hands cannot be read).

    A job may carry one delivery (send_delivery_job) or several (send_batch_job), so the live
    jobs of the mail queue are read and their arguments collected. A job RQ still counts as started
    long after its worker died (until its limit has passed) says nothing here: live workers' hands
    (inhand.py) tell which started jobs are being worked.
    """

    live = set(queue.get_job_ids())
    for registry in (queue.scheduled_job_registry, queue.deferred_job_registry, queue.started_job_registry):
        live.update(registry.get_job_ids())
    wanted, pending = set(ids), set()
    names = sorted(live)
    for start in range(0, len(names), 500):
        for job in Job.fetch_many(names[start : start + 500], connection=queue.connection):
            if job is None:
                continue
            status = job.get_status(refresh=False)
            if status == "started":
                if not (started_count or (job.started_at and job.started_at > now - GRACE)):
                    continue
            elif status not in ("queued", "scheduled", "deferred"):
                continue
            if job.func_name == SEND_JOB and job.args:
                pending.update({job.args[0]} & wanted)
            elif job.func_name == BATCH_JOB and job.args:
                pending.update(set(job.args[0]) & wanted)
    return pending


def reconcile(session: Session, settings: Settings, now: datetime | None = None, queue=None) -> ReconcileResult:
    """Repair what Redis or a dead worker lost; the database says what should be happening.

    * SENDING since more than GRACE and in no live worker's hand (inhand.py: its worker died, or its
      job ended without recording the outcome) → UNKNOWN with a note, never resent by itself. A row
      in a live worker's hand is left alone until its job's limit (start + job timeout + MARGIN) has
      passed. While Redis is too freshly restarted to tell, only rows SENDING for longer than any
      job may run (longest_job) become UNKNOWN.
    * QUEUED since more than GRACE, in no waiting RQ job and no live worker's hand (Redis lost the
      job, the worker died before reaching it, a crash between dispatch's commit and its enqueue)
      → enqueued again (the claim makes a duplicate harmless);
    * PLANNED without a moment → paced for today; PLANNED or RETRYING and due → dispatched.
    """

    now = now or utcnow()
    result = ReconcileResult()
    queue = queue or mail_queue()

    # Rows first, hands second: a live worker publishes its hand before it claims, so a row read as
    # SENDING here is already in the hand read below if its worker lives.
    claimed = session.execute(
        select(Delivery.id, Delivery.claimed_at).where(
            Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - GRACE
        )
    ).all()
    session.commit()
    hands = inhand.in_hand(queue.connection, now.timestamp()) if claimed else set()
    longest = now - longest_job(settings)
    if hands is None:
        given_up = [i for i, claimed_at in claimed if claimed_at is not None and _aware(claimed_at) < longest]
    else:
        given_up = [i for i, _claimed_at in claimed if i not in hands]
    if given_up:
        stuck = session.execute(
            update(Delivery)
            .where(Delivery.id.in_(given_up), Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - GRACE)
            .values(status=DeliveryStatus.UNKNOWN, updated_at=now, last_error=ABANDONED)
            .returning(Delivery.id, Delivery.contact_id)
            .execution_options(synchronize_session=False)
        ).all()
        if stuck:
            session.execute(
                insert(Note),
                [
                    {
                        "contact_id": contact_id,
                        "kind": NoteKind.SYSTEM,
                        "delivery_id": delivery_id,
                        "created_at": now,
                        "body": "Отправка письма прервалась: неизвестно, ушло ли оно. Решите на странице «Очередь»: "
                        "«Отправить повторно» или «Считать отправленным».",
                    }
                    for delivery_id, contact_id in stuck
                ],
            )
        result.unknown = len(stuck)
        session.commit()

    # All of them (ids only): a first few thousand still waiting in their jobs must not hide the lost ones.
    stale = session.scalars(
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.QUEUED, Delivery.updated_at < now - GRACE)
        .order_by(Delivery.id)
    ).all()
    session.commit()
    if stale:
        hands = inhand.in_hand(queue.connection, now.timestamp())
        pending = _waiting_in_rq(queue, stale, now, started_count=hands is None) | (hands or set())
        lost = [i for i in stale if i not in pending]
        if lost:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(lost), Delivery.status == DeliveryStatus.QUEUED)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            enqueue_all(queue, lost, settings)
        result.requeued = len(lost)

    result.paced = pacing.pace_day(session, now.astimezone(settings.timezone).date(), settings, now=now).paced
    session.commit()
    result.dispatched = dispatch(session, settings, now=now, queue=queue)
    return result


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC back."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
