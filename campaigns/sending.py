"""Sending one delivery: claim it, check it, compose it, hand it to the relay, record the outcome.

Dispatching due deliveries to RQ lives in dispatch, repairs after crashes in reconcile, the
queue page and a person's decisions in deliveries. The database is the truth, Redis only the transport. A delivery moves

    PLANNED ──dispatch──► QUEUED ──claim──► SENDING ──relay accepted──► SENT
       ▲                    │                  ├──4xx──► RETRYING ──(dispatch)──► QUEUED …
       └─ retry (admin) ◄── FAILED ◄──5xx──────┤
                          UNKNOWN ◄─ reconcile ┘ (SENDING, and its worker gone)

Every step is a conditional UPDATE whose row count says whether we won, so
a job that runs twice, a duplicate RQ entry or a re-queue by the reconciler can never
send a mail twice: only one claim of a QUEUED/PLANNED/RETRYING row succeeds.

A job carries up to BATCH_SIZE delivery ids (send_batch_job); it sends them one after
another, and each is claimed, sent and recorded on its own exactly as a job of one would be.
A crash mid-batch therefore leaves at most the delivery being sent in SENDING, and the rest
QUEUED for the reconciler. Per mail the work is: the claim with the re-read of the contact and
the spacing re-check (one statement on PostgreSQL), composing, one serialisation whose bytes go
to the relay and into the note, and SENT plus the note (one statement, hence one transaction, on
PostgreSQL).

The one window where a mail's fate is unknown: after the claim commits (SENDING) and
before the SENT transaction commits. A worker killed there — or a database that stays
unreachable through that last transaction's retries — may or may not have handed the mail
to the relay. We never guess: the reconciler marks such a row UNKNOWN once no live worker
has it in hand (inhand.py) or its job's limit has passed, writes a note, and the queue page
offers «Отправить повторно» / «Считать отправленным» to a person. Nothing is resent by itself.
SMTP itself has a smaller such window (RFC 1047): the connection lost, or the relay's answer
timed out, after the message's final dot went out. The transport reports that as
UnknownOutcome, and the delivery becomes UNKNOWN at once, never retried by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rq.timeouts import JobTimeoutException
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from . import audience, compose, consent, pacing, send_statements, spacing, template_sandbox
from .config import Settings, current_settings
from .db import retry_on_lost_connection, utcnow
from .models import (
    Delivery,
    DeliveryStatus,
    Note,
    NoteKind,
    Offer,
    OfferStatus,
)
from .send_statements import Recipient, Sender
from .sender import NO_SENDER
from .transport import PermanentFailure, TemporaryFailure, UnknownOutcome, drop_transport, transport_for, wire_bytes
from .transport import close_transports as close_transports  # the worker's and the tests' way to close them

log = logging.getLogger(__name__)

# Growing delays after temporary failures, the last one repeating, for RETRY_FOR in all.
RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3), timedelta(hours=6))
RETRY_FOR = timedelta(days=3)

CLAIMABLE = send_statements.CLAIMABLE


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


# ------------------------------------------------------------------ sending one


def claim(session: Session, delivery_id: int, now: datetime) -> bool:
    """Take the delivery for this worker; False when another one has it or it is not due."""
    taken = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    session.commit()
    return taken == 1


def note(session: Session, delivery: Delivery, body: str, kind: NoteKind = NoteKind.SYSTEM, author_id=None, **kw) -> None:
    session.add(Note(contact_id=delivery.contact_id, kind=kind, author_id=author_id, body=body, delivery_id=delivery.id, **kw))


def sent_subject(session: Session, delivery: Delivery) -> str:
    """The subject of a delivery as the contact got it, for notes that name the mail (an unsubscribe,
    a reply): the sent mail's note keeps it — the offer's own subject is a template
    («{{ company }}, подарки к празднику»). A mail with no such note (never sent, or its person's
    data erased) gets the subject rendered for its contact by the composer's own functions, and an
    offer whose template fails is named by its tag and year — never shown as the raw template."""

    stored = session.scalar(
        select(Note.subject)
        .where(Note.delivery_id == delivery.id, Note.kind == NoteKind.MAIL, Note.raw_message.is_not(None))
        .order_by(Note.id)
        .limit(1)
    )
    if stored:
        return stored
    offer, contact = delivery.offer, delivery.contact
    advisor = delivery.advisor or contact.owner
    try:
        variables = compose.offer_variables(
            offer=offer, contact=contact, advisor=advisor, settings=current_settings(), delivery_id=delivery.id
        )
        return template_sandbox.render_subject(offer, variables)
    except template_sandbox.OfferTemplateError:
        return f"{offer.tag.name} {offer.year}"


def _finish(session: Session, delivery: Delivery, values: dict, body: str | None) -> None:
    """Move a SENDING row on (conditionally) and write its note, in one transaction."""
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.SENDING)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    if moved and body:
        note(session, delivery, body)
    session.commit()


@dataclass
class _Claimed:
    """What sending one delivery needs of its row: read in the claim's own transaction."""

    id: int
    contact_id: int
    attempts: int
    contact: Recipient
    offer: Offer
    sender: Sender | None  # sender.sender_of at the claim; None: nobody may send it


def _claim_and_load(session: Session, delivery_id: int, now: datetime, settings: Settings):
    """Claim the delivery and read its contact and sender (fresh, as plain columns), offer status, audience
    refusal and spacing, in one transaction: (claimed, offer status, refusal code or None, the day spacing
    moves it to or None), or None when another worker has it or it is not due. The offer itself comes
    from the session (loaded once per batch job)."""
    spacing_days = settings.tag_spacing_days
    day = now.astimezone(settings.timezone).date()
    claim_stmt, claim_and_read, read = send_statements.claim_statements(audience.require_consent(), spacing_days > 0)
    params = {"delivery_id": delivery_id, "now": now}
    fast = send_statements.autocommit_bind(session)
    if fast is not None:
        # PostgreSQL: the claim, the read and the spacing re-check are one statement, committed on its
        # own (one round trip); its neighbours are read locked (send_statements._spacing_neighbours).
        if spacing_days > 0:
            params.update(spacing.spacing_window(day, spacing_days))
        row = session.execute(claim_and_read, params, bind_arguments={"bind": fast}).first()
        if row is None:
            return None
        contact_id, offer_id, attempts, offer_status, offer_updated_at, refused, latest = row[:7]
        contact, sender = send_statements.recipient_and_sender(row, 7)
        later = spacing.spacing_moves_to(latest, spacing_days)
    else:
        row = session.execute(claim_stmt, params).first()
        if row is None:
            session.commit()
            return None
        contact_id, offer_id, attempts = row
        read_row = session.execute(read, {"offer_id": offer_id, "contact_id": contact_id}).one()
        offer_status, offer_updated_at, refused = read_row[:3]
        contact, sender = send_statements.recipient_and_sender(read_row, 3)
        # In the claim's own transaction: SQLite lets one writer in at a time, so this read sees every
        # claim that went before ours, and a claim after ours waits for our commit.
        later = spacing.spacing_clash(session, delivery_id, contact_id, day, spacing_days)
    # The identity map holds objects weakly: keep the offer (its links, its tag) for the session's life.
    offers = session.info.setdefault("sending_offers", {})
    offer = offers.get(offer_id)
    if offer is None or offer.updated_at != offer_updated_at:  # new to this session, or edited since
        offer = offers[offer_id] = session.get(Offer, offer_id, populate_existing=True)
        for name in ("links", "tag"):
            getattr(offer, name)
    # Ends the read (the objects stay loaded: expire_on_commit=False) and gives the connection back:
    # none is held through the SMTP conversation, and the SENT record checks one out (pinged) afresh —
    # a connection cut meanwhile is never the one it writes on. (On PostgreSQL the claim ran in
    # autocommit: this costs no round trip.)
    session.commit()
    return _Claimed(delivery_id, contact_id, attempts, contact, offer, sender), offer_status, refused, later


def send_delivery(
    session: Session, delivery_id: int, settings: Settings, now: datetime | None = None, transport=None, rate_limit: bool = True
) -> SendResult:
    """Claim, check, compose, send and record one delivery."""

    if rate_limit:
        wait = pacing.relay_limit(settings).acquire()
        if wait:
            return SendResult(Outcome.THROTTLED, delay=wait)
    now = now or utcnow()
    claimed = _claim_and_load(session, delivery_id, now, settings)
    if claimed is None:
        return SendResult(Outcome.SKIPPED)
    delivery, offer_status, refused, later = claimed
    subject = delivery.offer.subject

    reason = audience.reason_text(refused, delivery.contact.email)
    if reason:
        _finish(
            session,
            delivery,
            {"status": DeliveryStatus.CANCELLED, "last_error": reason},
            f"Письмо «{subject}» не отправлено: {reason}.",
        )
        return SendResult(Outcome.CANCELLED, reason)
    if offer_status != OfferStatus.READY:
        _finish(session, delivery, {"status": DeliveryStatus.HELD, "send_at": None}, None)
        return SendResult(Outcome.HELD)
    # Spacing, checked again at the claim: another offer may have gone to the contact since this one
    # was given its day (a retry, a release); the later mail moves, pacing gives it a new moment.
    if later is not None:
        _finish(session, delivery, {"status": DeliveryStatus.PLANNED, "send_on": later, "send_at": None}, None)
        return SendResult(Outcome.SKIPPED, "spacing")

    sender = delivery.sender
    if sender is None:
        # The owner was deactivated and there is no house advisor: held like at planning (sender.py),
        # listed on the queue page, released by planning once someone may send it.
        _finish(session, delivery, {"status": DeliveryStatus.HELD, "send_at": None, "last_error": NO_SENDER}, None)
        return SendResult(Outcome.HELD, NO_SENDER)
    try:
        message = compose.build_offer_message(
            offer=delivery.offer, contact=delivery.contact, advisor=sender, settings=settings, delivery_id=delivery.id, now=now
        )
    except JobTimeoutException:
        raise  # the job's time is up: see send_batch
    except Exception as exc:  # a broken template: a person must fix it, then retry
        log.exception("composing delivery %s failed", delivery_id)
        detail = f"Письмо не собрано: {exc}"
        _finish(
            session,
            delivery,
            {"status": DeliveryStatus.FAILED, "last_error": detail},
            f"Письмо «{subject}» не отправлено. {detail}",
        )
        return SendResult(Outcome.FAILED, detail)

    return _transmit(session, delivery, message, sender, settings, transport)


def send_batch(
    session: Session, delivery_ids: list[int], settings: Settings, transport=None
) -> tuple[list[SendResult], list[int], float]:
    """Send several deliveries one after another over the worker's connection.

    Each one is claimed, sent and recorded on its own (send_delivery), exactly as a job of its
    own would: a crash mid-batch leaves the one being sent SENDING and the rest QUEUED, which
    the reconciler handles as before. RQ's job time-out (job_timeout) is such a crash: no catch-all
    here swallows it, the job ends there and leaves the same two states. Returns (results, ids left over because the relay's rate
    is used up, seconds to wait before those).
    """
    results: list[SendResult] = []
    # The relay's rate for the whole batch in one go when the window has room for all of it (one round
    # trip to Redis instead of one a mail); otherwise one mail at a time, as many as the window allows.
    # A mail that then does not go (skipped, cancelled, held) leaves its share used: the limit errs low.
    taken = pacing.relay_limit(settings).acquire_all(len(delivery_ids))
    for i, delivery_id in enumerate(delivery_ids):
        result = send_delivery(session, delivery_id, settings, transport=transport, rate_limit=not taken)
        if result.outcome == Outcome.THROTTLED:
            return results, list(delivery_ids[i:]), result.delay
        results.append(result)
    return results, [], 0.0


def _transmit(session, delivery, message, sender: Sender, settings: Settings, transport) -> SendResult:

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
    retry_on_lost_connection(
        session,
        lambda: _record_sent(session, delivery, message, sender, subject, data),
        f"recording delivery {delivery.id} as sent",
    )
    return SendResult(Outcome.SENT)


def _record_sent(session, delivery, message, sender: Sender, subject: str, data: bytes) -> None:
    """SENT, the Message-ID and the time, and the whole mail in the contact's notes: one transaction,
    which changes nothing when the row is no longer this attempt's (safe to run again)."""
    sent_at = utcnow()
    params = {
        "delivery_id": delivery.id,
        "this_attempt": delivery.attempts,
        "new_message_id": (message["Message-ID"] or "").strip() or None,
        "sent_time": sent_at,
        "sent_by": sender.id,
    }
    note_values = {
        "kind": NoteKind.MAIL,
        "body": f"Отправлено письмо «{subject}»",
        "subject": subject[:300],
        "raw_message": data.decode("utf-8"),
        "author_id": sender.id,  # the advisor the mail went out from
        "created_at": sent_at,
    }
    mark_sent, sent_and_note = send_statements.record_statements()
    fast = send_statements.autocommit_bind(session)
    if fast is not None:
        # PostgreSQL: SENT and the note in one statement, i.e. one transaction (and one round trip).
        params.update({f"note_{name}": value for name, value in note_values.items()})
        session.execute(sent_and_note, params, bind_arguments={"bind": fast})
        return
    moved = session.execute(mark_sent, params).rowcount
    if moved:
        session.execute(insert(Note).values(contact_id=delivery.contact_id, delivery_id=delivery.id, **note_values))
    session.commit()


def _unknown(session, delivery, subject: str, words: str) -> SendResult:
    """The relay may or may not have the mail: UNKNOWN, for a person to decide; never resent by itself."""
    detail = f"Неизвестно, ушло ли письмо: {words}"
    _finish(
        session,
        delivery,
        {"status": DeliveryStatus.UNKNOWN, "last_error": detail, "next_attempt_at": None},
        f"Письмо «{subject}»: {detail}. Проверьте и решите на странице «Очередь».",
    )
    return SendResult(Outcome.UNKNOWN, detail)


def _temporary(session, delivery, subject: str, words: str) -> SendResult:
    now = utcnow()
    delay = retry_delay(delivery.attempts)
    if delay is None:
        detail = f"не удалось доставить за {RETRY_FOR.days} дня: {words}"
        _finish(
            session,
            delivery,
            {"status": DeliveryStatus.FAILED, "last_error": detail, "next_attempt_at": None},
            f"Письмо «{subject}» не отправлено: {detail}",
        )
        return SendResult(Outcome.FAILED, detail)
    _finish(session, delivery, {"status": DeliveryStatus.RETRYING, "last_error": words, "next_attempt_at": now + delay}, None)
    return SendResult(Outcome.RETRYING, words, delay.total_seconds())


def server_words(code: int, enhanced: str, text: str) -> str:
    """'550 5.1.1 User unknown': the code, the enhanced code and the text, each once."""
    text = (text or "").strip()
    if text.startswith(str(code)):
        text = text[len(str(code)) :].strip()
    if enhanced and text.startswith(enhanced):
        text = text[len(enhanced) :].strip()
    return " ".join(part for part in (str(code), enhanced, text) if part)


def permanent_failure(session, delivery, subject: str, code: int, enhanced: str, text: str) -> SendResult:
    """FAILED with the server's words; an unknown mailbox (5.1.1) also suppresses the address.

    A policy block (5.7.x) says nothing about the address: it is not suppressed, and the
    queue page lists it for admin.
    """
    words = server_words(code, enhanced, text)
    values = {"status": DeliveryStatus.FAILED, "last_error": words, "next_attempt_at": None}
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status.in_((DeliveryStatus.SENDING, DeliveryStatus.SENT)))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        note(session, delivery, f"Письмо «{subject}» не доставлено, ответ сервера: {words}")
        if enhanced == "5.1.1" and delivery.contact.email:
            consent.bounce(session, delivery.contact.email, words)
            note(
                session,
                delivery,
                f"Адрес {delivery.contact.email} не существует (5.1.1): рассылки на него "
                "остановлены. Уточните у клиента новый адрес.",
            )
    session.commit()
    return SendResult(Outcome.FAILED, words)
