"""Bounces that arrive later: RFC 3464 delivery status notifications from a mailbox.

A relay that accepted a mail may still fail to deliver it and send a report back
(multipart/report; report-type=delivery-status) to the system mailbox that inbound.py reads
(INBOUND_URL, or its old name BOUNCE_URL). Each new report is matched to its delivery — by
the Message-ID of the returned original, else by
the recipient's latest sent delivery — and applied as an SMTP refusal would have been:
5.x.x → FAILED with the reported words, 5.1.1 → the address is suppressed too; 4.x.x
("delayed") changes nothing. A spam complaint (an ARF feedback report, RFC 5965, as the big
mailbox providers' feedback loops send them) unsubscribes the contact (consent.complaint), and
so does a mail to the List-Unsubscribe mailto address (subject «unsubscribe <signed token>»)
when that address is delivered to the same mailbox. Reading the mailbox, once per message, is
inbound.py's.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass
from email import policy
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import consent, inbound, sending, tracking
from .config import Settings
from .models import Contact, Delivery, DeliveryStatus

log = logging.getLogger(__name__)

_CODE = re.compile(r"\b([245]\d\d)\b")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Bounce:
    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # the enhanced code, e.g. "5.1.1"
    diagnostic: str  # the remote server's words
    message_id: str | None  # of the mail that bounced

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class Complaint:
    recipient: str  # the address that complained
    message_id: str | None  # of the mail complained about
    feedback_type: str  # abuse, fraud, …


def _address(field: str | None) -> str:
    # "rfc822; someone@example.com" → "someone@example.com"
    value = str(field or "").split(";", 1)[-1].strip().strip("<>")
    return value


def _original_message_id(report) -> str | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            original = email.message_from_string(part.get_payload(decode=True).decode("utf-8", "replace"), policy=policy.default)
        else:
            continue
        if original is not None and original.get("Message-ID"):
            return str(original["Message-ID"]).strip()
    for name in ("Original-Message-ID", "X-Original-Message-ID"):
        if report.get(name):
            return str(report[name]).strip()
    return None


def parse_report(raw: bytes) -> list[Bounce]:
    """The per-recipient results of an RFC 3464 report; [] for any other message."""
    report = email.message_from_bytes(raw, policy=policy.default)
    if report.get_content_type() != "multipart/report":
        return []
    message_id = _original_message_id(report)
    bounces = []
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks: Any = part.get_payload()
        if not isinstance(blocks, list) or len(blocks) < 2:
            continue
        per_message = blocks[0]
        message_id = message_id or (
            str(per_message["Original-Message-ID"]).strip() if per_message.get("Original-Message-ID") else None
        )
        for block in blocks[1:]:
            recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            if not recipient:
                continue
            diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split())
            diagnostic = diagnostic.split(";", 1)[-1].strip() if ";" in diagnostic[:12] else diagnostic
            bounces.append(
                Bounce(
                    recipient=recipient,
                    action=str(block.get("Action") or "").strip().lower(),
                    status=str(block.get("Status") or "").strip(),
                    diagnostic=diagnostic,
                    message_id=message_id,
                )
            )
    return bounces


def parse_complaint(raw: bytes) -> Complaint | None:
    """The complaint in an ARF feedback report (RFC 5965); None for any other message."""
    report = email.message_from_bytes(raw, policy=policy.default)
    if report.get_content_type() != "multipart/report" or report.get_param("report-type") != "feedback-report":
        return None
    fields = None
    for part in report.walk():
        if part.get_content_type() == "message/feedback-report":
            payload: Any = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else None
            break
    if fields is None:
        return None
    # Providers often redact the recipient; then the original's Message-ID finds the delivery.
    recipient = _address(fields.get("Original-Rcpt-To"))
    return Complaint(
        recipient=recipient,
        message_id=_original_message_id(report),
        feedback_type=str(fields.get("Feedback-Type") or "abuse").strip().lower(),
    )


def find_delivery(session: Session, bounce: Bounce | Complaint) -> Delivery | None:
    if bounce.message_id:
        found = session.scalar(select(Delivery).where(Delivery.message_id == bounce.message_id))
        if found is not None:
            return found
    return session.scalar(
        select(Delivery)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(func.lower(Contact.email) == bounce.recipient.lower(), Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    )


def apply_bounce(session: Session, bounce: Bounce) -> bool:
    """Apply one permanent failure; True when it changed something."""
    if not bounce.permanent:
        return False
    code_match = _CODE.search(bounce.diagnostic)
    code = int(code_match.group(1)) if code_match else 550
    status = bounce.status if _STATUS.fullmatch(bounce.status) else ""
    text = bounce.diagnostic or f"отчёт о недоставке, статус {bounce.status}"
    delivery = find_delivery(session, bounce)
    if delivery is None:
        if status == "5.1.1":
            consent.bounce(session, bounce.recipient, sending.server_words(code, status, text))
            session.commit()
            return True
        return False
    before = delivery.status
    sending.permanent_failure(session, delivery, delivery.offer.subject, code, status, text)
    session.refresh(delivery)
    return delivery.status != before


_UNSUBSCRIBE_SUBJECT = re.compile(r"\s*unsubscribe\s+(\S+)\s*", re.IGNORECASE)


def parse_unsubscribe_request(raw: bytes) -> int | None:
    """The delivery a List-Unsubscribe mailto mail names by its signed token, or None."""
    message = email.message_from_bytes(raw, policy=policy.default)
    match = _UNSUBSCRIBE_SUBJECT.fullmatch(str(message.get("Subject") or ""))
    return tracking.parse_unsubscribe_token(match.group(1)) if match else None


def apply_complaint(session: Session, complaint: Complaint) -> bool:
    """Unsubscribe whoever complained; True when it changed a contact."""
    delivery = find_delivery(session, complaint) if complaint.recipient or complaint.message_id else None
    address = complaint.recipient or (delivery.contact.email if delivery is not None else "")
    if not address:
        return False
    changed = consent.complaint(session, address, delivery=delivery, detail=f"жалоба ({complaint.feedback_type})")
    session.commit()
    return bool(changed)


def process_messages(session: Session, messages) -> int:
    """Apply every report in `messages` (raw bytes); the number of deliveries (or, for a
    complaint, contacts) it changed."""
    changed = 0
    for raw in messages:
        try:
            unsubscribe = parse_unsubscribe_request(raw)
            complaint = None if unsubscribe else parse_complaint(raw)
            bounces = [] if unsubscribe or complaint else parse_report(raw)
        except Exception:  # one malformed message must not block the mailbox
            log.exception("cannot parse a message in the bounce mailbox")
            continue
        if unsubscribe is not None:
            changed += consent.unsubscribe_by_link(session, unsubscribe, how=consent.MAILTO) is not None
            session.commit()
        if complaint:
            changed += apply_complaint(session, complaint)
        for bounce in bounces:
            changed += apply_bounce(session, bounce)
    return changed


def process_mailbox(session: Session, settings: Settings) -> int:
    """Read the system mailbox (inbound.py: bounces, complaints, mailto unsubscribes, each once)."""

    return inbound.read_system_mailbox(session, settings)
