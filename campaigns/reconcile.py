"""Reconciling: repair what Redis or a dead worker lost; the database says what should be happening."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from .db import utcnow
from .dispatch import BATCH_JOB, SEND_JOB, dispatch, enqueue_all, mail_queue
from .models import Delivery, DeliveryStatus, Note, NoteKind

STUCK_AFTER = timedelta(minutes=10)  # SENDING for longer: the worker died, the fate is unknown
REQUEUE_AFTER = timedelta(minutes=10)  # QUEUED and no RQ job for longer: Redis lost it


@dataclass
class ReconcileResult:
    unknown: int = 0
    requeued: int = 0
    dispatched: int = 0
    paced: int = 0


def _pending_in_rq(queue, ids: list[int]) -> set[int]:
    """Ids whose RQ job still waits or runs (queued, scheduled, deferred or started).

    A job may carry one delivery (send_delivery_job) or several (send_batch_job), so the live
    jobs of the mail queue are read and their arguments collected.
    """
    from rq.job import Job

    live = set(queue.get_job_ids())
    for registry in (queue.scheduled_job_registry, queue.deferred_job_registry, queue.started_job_registry):
        live.update(registry.get_job_ids())
    wanted, pending = set(ids), set()
    names = sorted(live)
    for start in range(0, len(names), 500):
        for job in Job.fetch_many(names[start:start + 500], connection=queue.connection):
            if job is None or job.get_status(refresh=False) not in ("queued", "scheduled", "deferred", "started"):
                continue
            if job.func_name == SEND_JOB and job.args:
                pending.update({job.args[0]} & wanted)
            elif job.func_name == BATCH_JOB and job.args:
                pending.update(set(job.args[0]) & wanted)
    return pending


def reconcile(session: Session, settings, now: datetime | None = None, queue=None) -> ReconcileResult:
    """Repair what Redis or a dead worker lost; the database says what should be happening.

    * SENDING for longer than STUCK_AFTER → UNKNOWN with a note (never resent by itself);
    * QUEUED for longer than REQUEUE_AFTER with no live RQ job → enqueued again (the claim
      makes a duplicate harmless);
    * PLANNED without a moment → paced for today; PLANNED or RETRYING and due → dispatched.
    """
    from . import pacing

    now = now or utcnow()
    result = ReconcileResult()
    stuck = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - STUCK_AFTER)
        .values(status=DeliveryStatus.UNKNOWN, updated_at=now,
                last_error="обработчик остановился во время отправки: неизвестно, ушло ли письмо")
        .returning(Delivery.id, Delivery.contact_id)
        .execution_options(synchronize_session=False)
    ).all()
    if stuck:
        session.execute(insert(Note), [
            {"contact_id": contact_id, "kind": NoteKind.SYSTEM, "delivery_id": delivery_id, "created_at": now,
             "body": "Отправка письма прервалась: неизвестно, ушло ли оно. Решите на странице «Очередь»: "
                     "«Отправить повторно» или «Считать отправленным»."}
            for delivery_id, contact_id in stuck
        ])
    result.unknown = len(stuck)
    session.commit()

    queue = queue or mail_queue()
    stale = session.scalars(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.QUEUED, Delivery.updated_at < now - REQUEUE_AFTER)
        .order_by(Delivery.id).limit(5000)
    ).all()
    pending = _pending_in_rq(queue, stale) if stale else set()
    lost = [i for i in stale if i not in pending]
    if lost:
        session.execute(update(Delivery).where(Delivery.id.in_(lost), Delivery.status == DeliveryStatus.QUEUED)
                        .values(updated_at=now).execution_options(synchronize_session=False))
        session.commit()
        enqueue_all(queue, lost, settings)
    result.requeued = len(lost)

    result.paced = pacing.pace_day(session, now.astimezone(settings.timezone).date(), settings, now=now).paced
    session.commit()
    result.dispatched = dispatch(session, settings, now=now, queue=queue)
    return result
