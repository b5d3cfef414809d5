"""Sending: dispatch due deliveries to RQ, send one, retry, and reconcile after crashes.

The database is the truth, Redis only the transport. A delivery moves

    PLANNED ──dispatch──► QUEUED ──claim──► SENDING ──relay accepted──► SENT
       ▲                    │                  ├──4xx──► RETRYING ──(dispatch)──► QUEUED …
       └─ retry (admin) ◄── FAILED ◄──5xx──────┤
                          UNKNOWN ◄─ reconcile ┘ (SENDING for longer than STUCK_AFTER)

Every step is a conditional UPDATE whose row count says whether we won (DESIGN, 10), so
a job that runs twice, a duplicate RQ entry or a re-queue by the reconciler can never
send a mail twice: only one claim of a QUEUED/PLANNED/RETRYING row succeeds.

A job carries up to BATCH_SIZE delivery ids (send_batch_job); it sends them one after
another, and each is claimed, sent and recorded on its own exactly as a job of one would be.
A crash mid-batch therefore leaves at most the delivery being sent in SENDING, and the rest
QUEUED for the reconciler. Per mail the work is: the claim and the re-read of the contact
(one statement on PostgreSQL), composing, one serialisation whose bytes go to the relay and
into the note, and SENT plus the note (one statement, hence one transaction, on PostgreSQL).

The one window where a mail's fate is unknown: after the claim commits (SENDING) and
before the SENT transaction commits. A worker killed there — or a database that stays
unreachable through that last transaction's retries — may or may not have handed the mail
to the relay. We never
guess: the reconciler marks such a row UNKNOWN once it has been SENDING for longer than
the job could possibly run (STUCK_AFTER), writes a note, and the queue page offers
«Отправить повторно» / «Считать отправленным» to a person. Nothing is resent by itself.
SMTP itself has a smaller such window (RFC 1047): the connection lost, or the relay's answer
timed out, after the message's final dot went out. The transport reports that as
UnknownOutcome, and the delivery becomes UNKNOWN at once, never retried by itself.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rq.timeouts import JobTimeoutException
from sqlalchemy import and_, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session, joinedload

from . import audience, consent, missed
from .db import retry_on_lost_connection, utcnow
from .models import (
    Advisor,
    Contact,
    Delivery,
    DeliveryStatus,
    Note,
    NoteKind,
    Offer,
    OfferStatus,
)
from .sender import NO_SENDER, NO_SENDER_LABEL, sender_for, sender_ids

log = logging.getLogger(__name__)

MAIL_QUEUE = "mail"
SEND_JOB = "campaigns.tasks.send_delivery_job"
BATCH_JOB = "campaigns.tasks.send_batch_job"
# Deliveries per job: RQ's own bookkeeping (several Redis round trips, the app context) is paid
# once for them; each is still claimed, sent and recorded on its own.
BATCH_SIZE = 20
MAIL_MARGIN = 5  # seconds per mail beyond the SMTP timeout in a job's limit (job_timeout)
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


def job_timeout(settings, count: int) -> int:
    """Seconds a job of `count` deliveries may run before RQ ends it: each mail's SMTP conversation
    may wait up to the MAIL_URL timeout, plus MAIL_MARGIN for composing and recording it, and one
    more such share for opening the connection. What the end of a job leaves: see send_batch."""
    return math.ceil((count + 1) * (settings.mail.timeout + MAIL_MARGIN))


def _job(delivery_ids: list[int], settings) -> tuple[str, object, dict]:
    """(function, argument, options) of the RQ job for these deliveries: a send job for one, a batch job for more."""
    common = dict(job_timeout=job_timeout(settings, len(delivery_ids)), failure_ttl=7 * 86400)
    if len(delivery_ids) == 1:
        return SEND_JOB, delivery_ids[0], dict(job_id=job_id(delivery_ids[0]), result_ttl=600, **common)
    # result_ttl=0: nothing reads a batch's result, and storing it is a Redis write per job.
    return BATCH_JOB, list(delivery_ids), dict(job_id=batch_job_id(delivery_ids), result_ttl=0, **common)


def enqueue(queue, delivery_id: int, settings, delay: float = 0) -> None:
    enqueue_batch(queue, [delivery_id], settings, delay)


def batch_job_id(delivery_ids: list[int]) -> str:
    if len(delivery_ids) == 1:
        return job_id(delivery_ids[0])
    return f"deliveries-{delivery_ids[0]}-{delivery_ids[-1]}-{len(delivery_ids)}"


def enqueue_batch(queue, delivery_ids: list[int], settings, delay: float = 0) -> None:
    """One job for a few deliveries (see send_batch); a single one is an ordinary send job."""
    func, arg, options = _job(delivery_ids, settings)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), func, arg, **options)
    else:
        queue.enqueue(func, arg, **options)


def enqueue_all(queue, delivery_ids, settings) -> None:
    """Jobs of up to BATCH_SIZE deliveries each, in id order, sent in one pipeline."""
    ids = sorted(delivery_ids)
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(ids), BATCH_SIZE):
            func, arg, options = _job(ids[start:start + BATCH_SIZE], settings)
            queue.enqueue(func, arg, pipeline=pipe, **options)
        pipe.execute()


def dispatch(session: Session, settings, now: datetime | None = None, queue=None, limit: int | None = None) -> int:
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


_autocommit_engines: dict = {}


def _autocommit_bind(session: Session):
    """On PostgreSQL, the session's engine in autocommit mode: a single statement that claims or
    records a delivery is its own transaction, without a BEGIN and a COMMIT round trip each.
    None elsewhere (SQLite runs the same steps as two statements in one transaction)."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        return None
    fast = _autocommit_engines.get(engine)
    if fast is None:
        fast = _autocommit_engines[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return fast


@dataclass
class _Claimed:
    """What sending one delivery needs of its row: read in the claim's own transaction."""

    id: int
    contact_id: int
    attempts: int
    contact: Contact
    offer: Offer


def _claim_and_load(session: Session, delivery_id: int, now: datetime):
    """Claim the delivery and read its contact (fresh), offer status and audience refusal, in one
    transaction: (claimed, offer status, refusal code or None), or None when another worker has it or it
    is not due. The offer itself comes from the session (loaded once per batch job)."""
    claim_stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1, updated_at=now)
        .returning(Delivery.contact_id, Delivery.offer_id, Delivery.attempts)
    )
    # The audience rule, evaluated on the contact's row as it is at the claim.
    refusal = audience.refusal().label("refusal")
    fast = _autocommit_bind(session)
    if fast is not None:
        # PostgreSQL: the claim and the read are one statement, committed on its own (one round trip).
        claimed = claim_stmt.cte("claimed")
        row = session.execute(
            select(claimed.c.contact_id, claimed.c.offer_id, claimed.c.attempts, Contact, Offer.status, Offer.updated_at,
                   refusal)
            .select_from(claimed).join(Contact, Contact.id == claimed.c.contact_id).join(Offer, Offer.id == claimed.c.offer_id)
            .options(joinedload(Contact.owner)),
            bind_arguments={"bind": fast}, execution_options={"populate_existing": True},
        ).first()
        if row is None:
            return None
        contact_id, offer_id, attempts, contact, offer_status, offer_updated_at, refused = row
    else:
        row = session.execute(claim_stmt.execution_options(synchronize_session=False)).first()
        if row is None:
            session.commit()
            return None
        contact_id, offer_id, attempts = row
        contact, offer_status, offer_updated_at, refused = session.execute(
            select(Contact, Offer.status, Offer.updated_at, refusal)
            .join(Offer, Offer.id == offer_id)
            .where(Contact.id == contact_id)
            .options(joinedload(Contact.owner))
            .execution_options(populate_existing=True)
        ).one()
    # The identity map holds objects weakly: keep the offer (its links, its tag) for the session's life.
    offers = session.info.setdefault("sending_offers", {})
    offer = offers.get(offer_id)
    if offer is None or offer.updated_at != offer_updated_at:  # new to this session, or edited since
        offer = offers[offer_id] = session.get(Offer, offer_id, populate_existing=True)
        for name in ("links", "tag"):
            getattr(offer, name)
        session.commit()  # ends the read; the objects stay loaded (expire_on_commit=False)
    elif fast is None:
        session.commit()
    # (On PostgreSQL the claim committed by itself; the session keeps its autocommit connection
    # for the next mail instead of checking it out and pinging it again.)
    return _Claimed(delivery_id, contact_id, attempts, contact, offer), offer_status, refused


def send_delivery(session: Session, delivery_id: int, settings, now: datetime | None = None,
                  transport=None, rate_limit: bool = True) -> SendResult:
    """Claim, check, compose, send and record one delivery."""
    from . import compose, pacing, planner

    if rate_limit:
        wait = pacing.relay_limit(settings).acquire()
        if wait:
            return SendResult(Outcome.THROTTLED, delay=wait)
    now = now or utcnow()
    claimed = _claim_and_load(session, delivery_id, now)
    if claimed is None:
        return SendResult(Outcome.SKIPPED)
    delivery, offer_status, refused = claimed
    subject = delivery.offer.subject

    reason = audience.reason_text(refused, delivery.contact.email)
    if reason:
        _finish(session, delivery, {"status": DeliveryStatus.CANCELLED, "last_error": reason},
                f"Письмо «{subject}» не отправлено: {reason}.")
        return SendResult(Outcome.CANCELLED, reason)
    if offer_status != OfferStatus.READY:
        _finish(session, delivery, {"status": DeliveryStatus.HELD, "send_at": None}, None)
        return SendResult(Outcome.HELD)
    # Spacing, checked again here: another offer may have gone to the contact since this one was
    # given its day (a retry, a release); the later mail moves, pacing gives it a new moment.
    later = planner.spacing_clash(session, delivery.id, delivery.contact_id, now.astimezone(settings.timezone).date(),
                                  settings.tag_spacing_days)
    session.commit()  # ends the read: no connection is held through the SMTP conversation
    if later is not None:
        _finish(session, delivery, {"status": DeliveryStatus.PLANNED, "send_on": later, "send_at": None}, None)
        return SendResult(Outcome.SKIPPED, "spacing")

    try:
        sender = sender_for(session, delivery.contact)
        message = compose.compose_delivery(session, delivery, settings, now=now)
    except JobTimeoutException:
        raise  # the job's time is up: see send_batch
    except Exception as exc:  # a broken template or no sender: a person must fix it, then retry
        log.exception("composing delivery %s failed", delivery_id)
        detail = f"Письмо не собрано: {exc}"
        _finish(session, delivery, {"status": DeliveryStatus.FAILED, "last_error": detail},
                f"Письмо «{subject}» не отправлено. {detail}")
        return SendResult(Outcome.FAILED, detail)

    return _transmit(session, delivery, message, sender, settings, transport)


def send_batch(session: Session, delivery_ids: list[int], settings, transport=None) -> tuple[list[SendResult], list[int], float]:
    """Send several deliveries one after another over the worker's connection.

    Each one is claimed, sent and recorded on its own (send_delivery), exactly as a job of its
    own would: a crash mid-batch leaves the one being sent SENDING and the rest QUEUED, which
    the reconciler handles as before. RQ's job time-out (job_timeout) is such a crash: no catch-all
    here swallows it, the job ends there and leaves the same two states. Returns (results, ids left over because the relay's rate
    is used up, seconds to wait before those).
    """
    results = []
    for i, delivery_id in enumerate(delivery_ids):
        result = send_delivery(session, delivery_id, settings, transport=transport)
        if result.outcome == Outcome.THROTTLED:
            return results, list(delivery_ids[i:]), result.delay
        results.append(result)
    return results, [], 0.0


def _transmit(session, delivery, message, sender: Advisor, settings, transport) -> SendResult:
    from .transport import PermanentFailure, TemporaryFailure, UnknownOutcome, wire_bytes

    subject = str(message["Subject"] or delivery.offer.subject)
    try:
        # Serialised once: the relay gets these bytes and the note keeps them (DKIM verifies on both).
        data = wire_bytes(message)
        (transport or transport_for(settings.mail)).send(message, data)
    except TemporaryFailure as exc:
        return _temporary(session, delivery, subject, str(exc))
    except PermanentFailure as exc:
        return permanent_failure(session, delivery, subject, exc.code, exc.enhanced or "", exc.text or str(exc))
    except UnknownOutcome as exc:
        return _unknown(session, delivery, subject, str(exc))
    except JobTimeoutException:
        drop_transport(settings.mail)  # it may be mid-message: it must not carry the next one
        raise  # the job's time is up: see send_batch
    except Exception as exc:
        # Not an SMTP answer: we cannot tell whether the relay took the mail.
        log.exception("sending delivery %s failed unexpectedly", delivery.id)
        drop_transport(settings.mail)
        return _unknown(session, delivery, subject, str(exc))

    # The relay accepted it: one transaction records the outcome and the mail in the notes. It only
    # moves a row still SENDING, so a lost connection is no reason to leave a delivered mail unknown.
    retry_on_lost_connection(session, lambda: _record_sent(session, delivery, message, sender, subject, data),
                             f"recording delivery {delivery.id} as sent")
    return SendResult(Outcome.SENT)


def _record_sent(session, delivery, message, sender: Advisor, subject: str, data: bytes) -> None:
    """SENT, the Message-ID and the time, and the whole mail in the contact's notes: one transaction,
    which changes nothing when the row is no longer SENDING (safe to run again)."""
    sent_at = utcnow()
    mark_sent = (
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SENT, message_id=(message["Message-ID"] or "").strip() or None, sent_at=sent_at,
                advisor_id=sender.id, last_error=None, next_attempt_at=None, updated_at=sent_at)
    )
    note_values = {"kind": NoteKind.MAIL, "body": f"Отправлено письмо «{subject}»", "subject": subject[:300],
                   "raw_message": data.decode("utf-8"), "created_at": sent_at}
    fast = _autocommit_bind(session)
    if fast is not None:
        # PostgreSQL: SENT and the note in one statement, i.e. one transaction (and one round trip).
        moved = mark_sent.returning(Delivery.id, Delivery.contact_id).cte("moved")
        columns = list(note_values)
        session.execute(
            insert(Note).from_select(
                ["contact_id", "delivery_id", *columns],
                select(moved.c.contact_id, moved.c.id,
                       *(literal(note_values[name], Note.__table__.c[name].type) for name in columns)),
            ).add_cte(moved),
            bind_arguments={"bind": fast},
        )
        return
    moved = session.execute(mark_sent.execution_options(synchronize_session=False)).rowcount
    if moved:
        session.execute(insert(Note).values(contact_id=delivery.contact_id, delivery_id=delivery.id, **note_values))
    session.commit()


def _unknown(session, delivery, subject: str, words: str) -> SendResult:
    """The relay may or may not have the mail: UNKNOWN, for a person to decide; never resent by itself."""
    detail = f"Неизвестно, ушло ли письмо: {words}"
    _finish(session, delivery, {"status": DeliveryStatus.UNKNOWN, "last_error": detail, "next_attempt_at": None},
            f"Письмо «{subject}»: {detail}. Проверьте и решите на странице «Очередь».")
    return SendResult(Outcome.UNKNOWN, detail)


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
            consent.bounce(session, delivery.contact.email, words)
            note(session, delivery, f"Адрес {delivery.contact.email} не существует (5.1.1): рассылки на него "
                                    "остановлены. Уточните у клиента новый адрес.")
    session.commit()
    return SendResult(Outcome.FAILED, words)


# ------------------------------------------------------------------ reconciling


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
    senders: dict  # contact id → who its pending mail goes out from now (name)


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
        "no_sender": rows(Delivery.status == DeliveryStatus.HELD, Delivery.last_error == NO_SENDER,
                          order=(Delivery.send_on, Delivery.id)),
        "missed": rows(missed.is_missed(), order=(Delivery.updated_at.desc(),)),
    }
    counts["missed"] = session.scalar(select(func.count()).where(missed.is_missed()))
    held = session.execute(
        select(Offer, Tag.name, func.count(Delivery.id))
        .join(Delivery, Delivery.offer_id == Offer.id).join(Tag, Tag.id == Offer.tag_id)
        .where(Delivery.status == DeliveryStatus.HELD)
        .group_by(Offer.id, Tag.name).order_by(Tag.name)
    ).all()
    policy = rows(Delivery.status == DeliveryStatus.FAILED, Delivery.last_error.like(POLICY_PATTERN),
                  order=(Delivery.updated_at.desc(),))
    # Whoever sends now (an advisor deactivated since pacing is replaced by the heir or the house advisor).
    pending = [d.contact_id for name in ("planned", "queued", "retrying", "no_sender") for d in lists[name]]
    ids = sender_ids(session, pending)
    names = dict(session.execute(select(Advisor.id, Advisor.name).where(Advisor.id.in_(set(ids.values()) - {None}))).all())
    senders = {contact_id: names.get(advisor_id, NO_SENDER_LABEL) for contact_id, advisor_id in ids.items()}
    return QueueView(counts=counts, lists=lists, held_offers=held, policy_blocks=policy, senders=senders)
