"""Sending: dispatch due deliveries to RQ, send one, retry, and reconcile after crashes.

The database is the truth, Redis only the transport. A delivery moves

    PLANNED ──dispatch──► QUEUED ──claim──► SENDING ──relay accepted──► SENT
       ▲                    │                  ├──4xx──► RETRYING ──(dispatch)──► QUEUED …
       └─ retry (admin) ◄── FAILED ◄──5xx──────┤
                          UNKNOWN ◄─ reconcile ┘ (SENDING for longer than STUCK_AFTER)

Every step is a conditional UPDATE whose row count says whether we won (DESIGN, 10), so
a job that runs twice, a duplicate RQ entry or a re-queue by the reconciler can never
send a mail twice: only one claim of a QUEUED/PLANNED/RETRYING row succeeds.

The one window where a mail's fate is unknown: after the claim commits (SENDING) and
before the SENT transaction commits. A worker killed there — or a database that fails
on that last commit — may or may not have handed the mail to the relay. We never
guess: the reconciler marks such a row UNKNOWN once it has been SENDING for longer than
the job could possibly run (STUCK_AFTER), writes a note, and the queue page offers
«Отправить повторно» / «Считать отправленным» to a person. Nothing is resent by itself.
(SMTP itself has a smaller such window: a connection lost after the message's final dot
and before the relay's answer. The transport reports it as temporary, so that mail is
retried; RFC 1047 describes the resulting rare duplicate.)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import utcnow
from .models import (
    Advisor,
    Contact,
    Delivery,
    DeliveryStatus,
    Note,
    NoteKind,
    OfferStatus,
    Suppression,
    SuppressionReason,
)

log = logging.getLogger(__name__)

MAIL_QUEUE = "mail"
SEND_JOB = "campaigns.tasks.send_delivery_job"
JOB_TIMEOUT = 180  # seconds: an SMTP conversation (with its own timeouts) fits well inside
STUCK_AFTER = timedelta(minutes=10)  # SENDING for longer: the worker died, the fate is unknown
REQUEUE_AFTER = timedelta(minutes=10)  # QUEUED and no RQ job for longer: Redis lost it
# Growing delays after temporary failures, the last one repeating, for RETRY_FOR in all.
RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3), timedelta(hours=6))
RETRY_FOR = timedelta(days=3)

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.PLANNED, DeliveryStatus.RETRYING)
POLICY_PATTERN = "5__ 5.7.%"  # how a policy block (5.7.x) reads in last_error


class Outcome(StrEnum):
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # someone else claimed it, or it is no longer due
    THROTTLED = "throttled"  # the relay's rate: try again in `delay` seconds


@dataclass
class SendResult:
    outcome: Outcome
    detail: str = ""
    delay: float = 0.0


# ------------------------------------------------------------------ retries


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, or None once the schedule passed RETRY_FOR."""
    elapsed = sum((RETRY_DELAYS[min(i, len(RETRY_DELAYS) - 1)] for i in range(attempts - 1)), timedelta())
    if elapsed >= RETRY_FOR:
        return None
    return RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]


# ------------------------------------------------------------------ transports


_transports: dict = {}


def transport_for(mail_settings):
    """One open transport per worker process and relay, kept between jobs (SMTP connection reuse)."""
    from .transport import open_transport

    transport = _transports.get(mail_settings)
    if transport is None:
        transport = open_transport(mail_settings)
        transport.__enter__()
        _transports[mail_settings] = transport
    return transport


def drop_transport(mail_settings) -> None:
    transport = _transports.pop(mail_settings, None)
    if transport is not None:
        try:
            transport.__exit__(None, None, None)
        except Exception:  # closing a broken connection may fail; it is gone either way
            log.debug("closing the transport failed", exc_info=True)


def close_transports() -> None:
    for key in list(_transports):
        drop_transport(key)


# ------------------------------------------------------------------ dispatch


def mail_queue(connection=None):
    from rq import Queue

    from .extensions import redis_client

    return Queue(MAIL_QUEUE, connection=connection or redis_client())


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def enqueue(queue, delivery_id: int, delay: float = 0) -> None:
    options = dict(job_id=job_id(delivery_id), job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 86400)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), SEND_JOB, delivery_id, **options)
    else:
        queue.enqueue(SEND_JOB, delivery_id, **options)


def dispatch(session: Session, settings, now: datetime | None = None, queue=None, limit: int | None = None) -> int:
    """Mark due deliveries QUEUED and enqueue one RQ job (the id only) for each.

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
    queue = queue or mail_queue()
    for delivery_id in sorted(queued):
        enqueue(queue, delivery_id)
    return len(queued)


# ------------------------------------------------------------------ sending one


def claim(session: Session, delivery_id: int, now: datetime) -> bool:
    """Take the delivery for this worker; False when another one has it or it is not due."""
    taken = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def _why_not(session: Session, contact: Contact) -> str | None:
    """Why this contact must not get the mail now, in Russian; None when it may."""
    if contact.unsubscribed_at is not None:
        return "контакт отписался от рассылок"
    if contact.archived_at is not None:
        return "контакт в архиве"
    if not contact.email:
        return "у контакта нет адреса эл. почты"
    if session.scalar(select(Suppression.id).where(Suppression.email == contact.email)):
        return f"адрес {contact.email} в стоп-листе"
    return None


def note(session: Session, delivery: Delivery, body: str, kind: NoteKind = NoteKind.SYSTEM, author_id=None, **kw) -> None:
    session.add(Note(contact_id=delivery.contact_id, kind=kind, author_id=author_id, body=body,
                     delivery_id=delivery.id, **kw))


def _finish(session: Session, delivery: Delivery, values: dict, body: str | None) -> None:
    """Move a SENDING row on (conditionally) and write its note, in one transaction."""
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.SENDING)
        .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount
    if moved and body:
        note(session, delivery, body)
    session.commit()


def send_delivery(session: Session, delivery_id: int, settings, now: datetime | None = None,
                  transport=None, rate_limit: bool = True) -> SendResult:
    """Claim, check, compose, send and record one delivery."""
    from . import compose, pacing

    if rate_limit:
        wait = pacing.relay_limit(settings).acquire()
        if wait:
            return SendResult(Outcome.THROTTLED, delay=wait)
    now = now or utcnow()
    if not claim(session, delivery_id, now):
        return SendResult(Outcome.SKIPPED)
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    contact = delivery.contact
    subject = delivery.offer.subject

    reason = _why_not(session, contact)
    if reason:
        _finish(session, delivery, {"status": DeliveryStatus.CANCELLED, "last_error": reason},
                f"Письмо «{subject}» не отправлено: {reason}.")
        return SendResult(Outcome.CANCELLED, reason)
    if delivery.offer.status != OfferStatus.READY:
        _finish(session, delivery, {"status": DeliveryStatus.HELD, "send_at": None}, None)
        return SendResult(Outcome.HELD)

    try:
        sender = compose.sender_for(session, contact)
        message = compose.compose_delivery(session, delivery, settings, now=now)
    except Exception as exc:  # a broken template or no sender: a person must fix it, then retry
        log.exception("composing delivery %s failed", delivery_id)
        detail = f"Письмо не собрано: {exc}"
        _finish(session, delivery, {"status": DeliveryStatus.FAILED, "last_error": detail},
                f"Письмо «{subject}» не отправлено. {detail}")
        return SendResult(Outcome.FAILED, detail)

    return _transmit(session, delivery, message, sender, settings, transport)


def _transmit(session, delivery, message, sender: Advisor, settings, transport) -> SendResult:
    from .transport import PermanentFailure, TemporaryFailure

    subject = str(message["Subject"] or delivery.offer.subject)
    try:
        (transport or transport_for(settings.mail)).send(message)
    except TemporaryFailure as exc:
        return _temporary(session, delivery, subject, str(exc))
    except PermanentFailure as exc:
        return permanent_failure(session, delivery, subject, exc.code, exc.enhanced or "", exc.text or str(exc))
    except Exception as exc:
        # Not an SMTP answer: we cannot tell whether the relay took the mail.
        log.exception("sending delivery %s failed unexpectedly", delivery.id)
        drop_transport(settings.mail)
        detail = f"Неизвестно, ушло ли письмо: {exc}"
        _finish(session, delivery, {"status": DeliveryStatus.UNKNOWN, "last_error": detail},
                f"Письмо «{subject}»: {detail}. Проверьте и решите на странице «Очередь».")
        return SendResult(Outcome.UNKNOWN, detail)

    # The relay accepted it: one transaction records the outcome and the mail in the notes.
    sent_at = utcnow()
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SENT, message_id=(message["Message-ID"] or "").strip() or None, sent_at=sent_at,
                advisor_id=sender.id, last_error=None, next_attempt_at=None, updated_at=sent_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        note(session, delivery, f"Отправлено письмо «{subject}»", kind=NoteKind.MAIL, subject=subject[:300],
             raw_message=message.as_string(), created_at=sent_at)
    session.commit()
    return SendResult(Outcome.SENT)


def _temporary(session, delivery, subject: str, words: str) -> SendResult:
    now = utcnow()
    delay = retry_delay(delivery.attempts)
    if delay is None:
        detail = f"не удалось доставить за {RETRY_FOR.days} дня: {words}"
        _finish(session, delivery, {"status": DeliveryStatus.FAILED, "last_error": detail, "next_attempt_at": None},
                f"Письмо «{subject}» не отправлено: {detail}")
        return SendResult(Outcome.FAILED, detail)
    _finish(session, delivery, {"status": DeliveryStatus.RETRYING, "last_error": words, "next_attempt_at": now + delay},
            None)
    return SendResult(Outcome.RETRYING, words, delay.total_seconds())


def server_words(code: int, enhanced: str, text: str) -> str:
    """'550 5.1.1 User unknown': the code, the enhanced code and the text, each once."""
    text = (text or "").strip()
    if text.startswith(str(code)):
        text = text[len(str(code)):].strip()
    if enhanced and text.startswith(enhanced):
        text = text[len(enhanced):].strip()
    return " ".join(part for part in (str(code), enhanced, text) if part)


def permanent_failure(session, delivery, subject: str, code: int, enhanced: str, text: str) -> SendResult:
    """FAILED with the server's words; an unknown mailbox (5.1.1) also suppresses the address.

    A policy block (5.7.x) says nothing about the address: it is not suppressed, and the
    queue page lists it for admin.
    """
    words = server_words(code, enhanced, text)
    values = {"status": DeliveryStatus.FAILED, "last_error": words, "next_attempt_at": None}
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status.in_((DeliveryStatus.SENDING, DeliveryStatus.SENT)))
        .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        note(session, delivery, f"Письмо «{subject}» не доставлено, ответ сервера: {words}")
        if enhanced == "5.1.1" and delivery.contact.email:
            suppress(session, delivery.contact.email, SuppressionReason.BOUNCE, words)
            note(session, delivery, f"Адрес {delivery.contact.email} не существует (5.1.1): рассылки на него "
                                    "остановлены. Уточните у клиента новый адрес.")
    session.commit()
    return SendResult(Outcome.FAILED, words)


def suppress(session: Session, email: str, reason: SuppressionReason, detail: str = "", author_id=None) -> None:
    """Add the address to the stop list (once; a second time changes nothing)."""
    name = session.get_bind().dialect.name
    stmt = (postgresql.insert if name == "postgresql" else sqlite.insert)(Suppression).values(
        email=email, reason=reason, detail=detail, created_by_id=author_id, created_at=utcnow()
    ).on_conflict_do_nothing(index_elements=["email"])
    session.execute(stmt)


# ------------------------------------------------------------------ reconciling


@dataclass
class ReconcileResult:
    unknown: int = 0
    requeued: int = 0
    dispatched: int = 0
    paced: int = 0


def _pending_in_rq(queue, ids: list[int]) -> set[int]:
    """Ids whose RQ job still waits or runs (queued, scheduled, deferred or started)."""
    from rq.job import Job

    pending = set()
    jobs = Job.fetch_many([job_id(i) for i in ids], connection=queue.connection)
    for delivery_id, job in zip(ids, jobs, strict=True):
        if job is not None and job.get_status(refresh=False) in ("queued", "scheduled", "deferred", "started"):
            pending.add(delivery_id)
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
    lost = [i for i in stale if i not in _pending_in_rq(queue, stale)] if stale else []
    if lost:
        session.execute(update(Delivery).where(Delivery.id.in_(lost), Delivery.status == DeliveryStatus.QUEUED)
                        .values(updated_at=now).execution_options(synchronize_session=False))
        session.commit()
        for delivery_id in lost:
            enqueue(queue, delivery_id)
    result.requeued = len(lost)

    result.paced = pacing.pace_day(session, now.astimezone(settings.timezone).date(), settings, now=now).paced
    session.commit()
    result.dispatched = dispatch(session, settings, now=now, queue=queue)
    return result


# ------------------------------------------------------------------ decisions of a person


def _decide(session, delivery_id: int, user, from_statuses, values: dict, body: str) -> bool:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(from_statuses))
        .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        note(session, delivery, body.format(subject=delivery.offer.subject, who=user.name if user else "система"),
             author_id=user.id if user else None)
    session.commit()
    session.refresh(delivery)
    return bool(moved)


def retry(session: Session, delivery_id: int, user, now: datetime | None = None) -> bool:
    """A failed (or unknown) delivery goes out again now; the note says who decided."""
    now = now or utcnow()
    return _decide(session, delivery_id, user, (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN), {
        "status": DeliveryStatus.PLANNED, "send_at": now, "attempts": 0, "next_attempt_at": None, "last_error": None,
    }, "Письмо «{subject}» отправляется повторно ({who}).")


def mark_sent(session: Session, delivery_id: int, user) -> bool:
    """An UNKNOWN delivery is taken as sent (a person checked the relay's log or the client)."""
    return _decide(session, delivery_id, user, (DeliveryStatus.UNKNOWN,), {
        "status": DeliveryStatus.SENT, "sent_at": Delivery.claimed_at, "last_error": None,
    }, "Письмо «{subject}» считается отправленным ({who}).")


# ------------------------------------------------------------------ the queue, for people


@dataclass
class QueueView:
    counts: dict
    lists: dict  # status name → rows (Delivery objects, contact/offer/advisor loaded)
    held_offers: list  # (offer, tag name, waiting count)
    policy_blocks: list


def queue_view(session: Session, settings, now: datetime | None = None, limit: int = 50) -> QueueView:
    """Counts per status and the newest rows of each list the queue page and `flask campaigns queue` show."""
    from sqlalchemy.orm import joinedload

    from .models import Offer, Tag

    now = now or utcnow()
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({status.value if hasattr(status, "value") else status: n for status, n in session.execute(
        select(Delivery.status, func.count()).group_by(Delivery.status))})
    local = now.astimezone(settings.timezone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    counts["sent_today"] = session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.SENT,
                                                                     Delivery.sent_at >= day_start))

    def rows(*where, order):
        return session.scalars(
            select(Delivery).options(joinedload(Delivery.contact), joinedload(Delivery.offer).joinedload(Offer.tag),
                                     joinedload(Delivery.advisor))
            .where(*where).order_by(*order).limit(limit)
        ).all()

    lists = {
        "planned": rows(Delivery.status == DeliveryStatus.PLANNED, order=(Delivery.send_on, Delivery.send_at, Delivery.id)),
        "queued": rows(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)), order=(Delivery.updated_at,)),
        "retrying": rows(Delivery.status == DeliveryStatus.RETRYING, order=(Delivery.next_attempt_at,)),
        "unknown": rows(Delivery.status == DeliveryStatus.UNKNOWN, order=(Delivery.claimed_at.desc(),)),
        "failed": rows(Delivery.status == DeliveryStatus.FAILED, order=(Delivery.updated_at.desc(),)),
        "sent_today": rows(Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= day_start,
                           order=(Delivery.sent_at.desc(),)),
    }
    held = session.execute(
        select(Offer, Tag.name, func.count(Delivery.id))
        .join(Delivery, Delivery.offer_id == Offer.id).join(Tag, Tag.id == Offer.tag_id)
        .where(Delivery.status == DeliveryStatus.HELD)
        .group_by(Offer.id, Tag.name).order_by(Tag.name)
    ).all()
    policy = rows(Delivery.status == DeliveryStatus.FAILED, Delivery.last_error.like(POLICY_PATTERN),
                  order=(Delivery.updated_at.desc(),))
    return QueueView(counts=counts, lists=lists, held_offers=held, policy_blocks=policy)
