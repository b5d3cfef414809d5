"""The system mailbox (INBOUND_URL, or its old name BOUNCE_URL): mail that comes back to us.

One reader for one mailbox, `maildir:PATH` or `imaps://user:password@host[:port]/FOLDER`
(`imap://` without TLS, for a local server). Each message is one of:

- a delivery report (RFC 3464): the delivery fails as an SMTP refusal would (bounces.py);
- a spam complaint (an ARF feedback report, RFC 5965): the address goes on the stop list with
  the reason «complaint», pending mail is cancelled and the contact's timeline says so, where
  its advisor sees it (consent.complaint);
- a mail to the List-Unsubscribe mailto address: the signed token (tracking.py) in its subject
  or body unsubscribes the contact (consent.unsubscribe_by_link); a forged token does nothing;
- an auto-reply (RFC 3834 and the usual vacation headers): nothing to do.

Each message is recorded in inbound_messages under the unique (mailbox, Message-ID) in the
same transaction as what it did, so it is handled once, across restarts and with two
schedulers. Messages it understood are marked seen (\\Seen, Maildir "S") and kept; what it
cannot understand is left unseen in the mailbox, never deleted, and listed for the admin
(«Входящая почта», /admin/inbound).
"""

from __future__ import annotations

import email
import hashlib
import imaplib
import logging
import mailbox as mailboxes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import consent, tracking
from .config import Settings
from .db import utcnow
from .models import Delivery, InboundMessage

log = logging.getLogger(__name__)

SYSTEM = "system"
UNKNOWN = "unknown"
# What the admin page lists: the messages nobody understood.
LISTED = (UNKNOWN,)
KIND_LABELS = {
    "bounce": "отчёт о недоставке",
    "complaint": "жалоба на спам",
    "unsubscribe": "отписка письмом",
    "autoreply": "автоответ",
    "reply": "ответ клиента",
    UNKNOWN: "не распознано",
}

_TOKEN = re.compile(r"(?<![\w.-])([0-9a-z]{1,13}\.[A-Za-z0-9_-]{16})(?![\w.-])")
_UNSUBSCRIBE_WORDS = re.compile(r"unsubscribe|отпис", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"автоответ|out of office|auto(matic)?[ -]?reply|autoreply|отсутству|в отпуске|"
    r"vacation|abwesenheit",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    """What a message was and what it did (the fields of its inbound_messages row)."""

    kind: str
    detail: str = ""
    contact_id: int | None = None
    delivery_id: int | None = None
    advisor_id: int | None = None
    changed: int = 0

    @property
    def understood(self) -> bool:
        return self.kind != UNKNOWN


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def message_key(message: EmailMessage, raw: bytes) -> str:
    """The Message-ID, else a digest of the whole message: the same message gives the same key."""
    message_id = " ".join(str(message.get("Message-ID") or "").split())
    return message_id[:300] if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()


def header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name) or "").split())
    except (ValueError, TypeError, IndexError):  # a header too broken to decode
        return ""


def sender_address(message: EmailMessage) -> str:
    return parseaddr(header(message, "From"))[1].strip().lower()


def text_of(message: EmailMessage) -> str:
    """The readable text of a message: its plain part, else its HTML part without tags."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        content = part.get_content()
    except (KeyError, LookupError, ValueError, AttributeError):
        return ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = re.sub(r"<(br|/p|/div)[^>]*>", "\n", content, flags=re.IGNORECASE)
        content = re.sub(r"<[^>]+>", "", content)
    return content


def is_auto_reply(message: EmailMessage) -> bool:
    """RFC 3834 Auto-Submitted, the vacation headers of the common mail servers, or the usual subjects."""
    auto_submitted = header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if header(message, "X-Autoreply") or header(message, "X-Autorespond") or header(message, "X-Auto-Response-Suppress"):
        return True
    if header(message, "Precedence").lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    return bool(_AUTO_SUBJECT.search(header(message, "Subject")))


def unsubscribe_tokens(message: EmailMessage) -> list[str]:
    """Every string shaped like an unsubscribe token, the subject's first, then the body's."""
    return _TOKEN.findall(header(message, "Subject")) + _TOKEN.findall(text_of(message)[:20000])


# --- one message, once --------------------------------------------------------------------------


def seen(session: Session, mailbox: str, key: str) -> bool:
    return (
        session.scalar(select(InboundMessage.id).where(InboundMessage.mailbox == mailbox, InboundMessage.message_key == key))
        is not None
    )


def handle_once(
    session: Session, mailbox: str, raw: bytes, uid: str | None, handler: Callable[[Session, EmailMessage, bytes], Outcome]
) -> Outcome | None:
    """Record the message under its key and let `handler` act on it, in one transaction.
    None when it was handled before (by this or another scheduler)."""
    try:
        message = parse(raw)
        key = message_key(message, raw)
    except Exception:  # noqa: BLE001 - a message too broken to parse is keyed by its bytes
        message, key = None, "sha256:" + hashlib.sha256(raw).hexdigest()
    if seen(session, mailbox, key):
        return None
    sender = (header(message, "From") if message is not None else "")[:300]
    subject = (header(message, "Subject") if message is not None else "")[:300]
    row = InboundMessage(
        mailbox=mailbox, message_key=key, uid=uid, kind=UNKNOWN, received_at=utcnow(), sender=sender, subject=subject
    )
    session.add(row)
    try:
        session.flush()  # the unique key: a second scheduler waits here, then finds the row
    except IntegrityError:
        session.rollback()
        return None
    if message is None:
        outcome = Outcome(UNKNOWN, "письмо не разобрать")
    else:
        try:
            outcome = handler(session, message, raw)
        except IntegrityError:
            session.rollback()
            return None
        except Exception:  # one bad message must not block the mailbox: it waits for the admin
            log.exception("cannot handle a message in mailbox %s", mailbox)
            session.rollback()
            row = InboundMessage(
                mailbox=mailbox, message_key=key, uid=uid, kind=UNKNOWN, received_at=utcnow(), sender=sender, subject=subject
            )
            session.add(row)
            outcome = Outcome(UNKNOWN, "ошибка при разборе письма")
    row.kind = outcome.kind
    row.detail = outcome.detail[:2000]
    row.contact_id, row.delivery_id, row.advisor_id = outcome.contact_id, outcome.delivery_id, outcome.advisor_id
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return outcome


# --- the system mailbox ----------------------------------------------------------------------


def handle_system_message(session: Session, message: EmailMessage, raw: bytes) -> Outcome:
    from . import bounces  # bounces imports this module

    complaint = bounces.parse_complaint(raw)
    if complaint is not None:
        delivery = bounces.find_delivery(session, complaint) if complaint.recipient or complaint.message_id else None
        address = complaint.recipient or (delivery.contact.email if delivery is not None else "")
        if not address:
            return Outcome(UNKNOWN, "жалоба без адреса и без письма, на которое жалуются")
        changed = consent.complaint(session, address, delivery=delivery, detail=f"жалоба ({complaint.feedback_type})")
        return Outcome(
            "complaint",
            f"{address}: {complaint.feedback_type}",
            changed=changed,
            contact_id=delivery.contact_id if delivery is not None else None,
            delivery_id=delivery.id if delivery is not None else None,
        )
    reports = bounces.parse_report(raw)
    if reports:
        changed = 0
        for report in reports:
            changed += bounces.apply_bounce(session, report)
        return Outcome("bounce", "; ".join(f"{r.recipient} {r.status}" for r in reports)[:500], changed=changed)
    for token in unsubscribe_tokens(message):
        delivery_id = tracking.parse_unsubscribe_token(token)
        if delivery_id is None:
            continue
        contact = consent.unsubscribe_by_link(session, delivery_id, how=consent.MAILTO)
        if contact is not None:
            return Outcome(
                "unsubscribe",
                contact.email or "",
                contact_id=contact.id,
                delivery_id=delivery_id,
                changed=1,
                advisor_id=session.get_one(Delivery, delivery_id).advisor_id,
            )
    if is_auto_reply(message):
        return Outcome("autoreply")
    subject = header(message, "Subject")
    if _UNSUBSCRIBE_WORDS.search(subject) or _UNSUBSCRIBE_WORDS.search(text_of(message)[:2000]):
        return Outcome(UNKNOWN, "просьба об отписке без действительной подписи: проверьте и отпишите вручную")
    return Outcome(UNKNOWN)


def read_system_mailbox(session: Session, settings: Settings) -> int:
    """Handle the new messages of INBOUND_URL's mailbox; the number that changed something."""
    url = settings.bounce_url
    if not url:
        return 0
    changed = 0
    for outcome in read_mailbox(session, SYSTEM, url, handle_system_message):
        changed += bool(outcome.changed)
    return changed


def read_mailbox(session: Session, mailbox: str, url: str, handler) -> Iterator[Outcome]:
    if url.startswith("maildir:"):
        yield from _read_maildir(session, mailbox, Path(url[len("maildir:") :].removeprefix("//")), handler)
    else:
        yield from _read_imap(session, mailbox, url, handler)


def _read_maildir(session: Session, mailbox: str, path: Path, handler) -> Iterator[Outcome]:
    box = mailboxes.Maildir(path, factory=None, create=True)
    for key in list(box.iterkeys()):
        try:
            message = box.get_message(key)
        except KeyError:  # taken away meanwhile
            continue
        if "S" in message.get_flags():
            continue
        outcome = handle_once(session, mailbox, box.get_bytes(key), key, handler)
        if outcome is None or outcome.understood:
            message.set_subdir("cur")
            message.add_flag("S")
            box[key] = message
        if outcome is not None:
            yield outcome


def connect_imap(url: str, timeout: float = 30) -> tuple[imaplib.IMAP4, str]:
    """A logged-in client for imaps://user:password@host[:port]/FOLDER (imap:// without TLS) and the folder."""
    parts = urlsplit(url)
    tls = parts.scheme == "imaps"
    client_class = imaplib.IMAP4_SSL if tls else imaplib.IMAP4
    client = client_class(parts.hostname or "", parts.port or (993 if tls else 143), timeout=timeout)
    try:
        client.login(unquote(parts.username or ""), unquote(parts.password or ""))
    except BaseException:
        _logout(client)
        raise
    return client, unquote(parts.path.strip("/")) or "INBOX"


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def fetched_bytes(fetched) -> bytes:
    return next((item[1] for item in fetched or () if isinstance(item, tuple)), b"")


def _read_imap(session: Session, mailbox: str, url: str, handler) -> Iterator[Outcome]:
    client, folder = connect_imap(url)
    try:
        typ, _data = client.select(_quote_folder(folder))
        if typ != "OK":
            raise imaplib.IMAP4.error(f"no folder {folder}")
        _typ, data = client.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
        for uid in (data[0] or b"").split():
            # The Message-ID first: what was handled before is not fetched again.
            _typ, head = client.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
            message_id = " ".join(str(parse(fetched_bytes(head)).get("Message-ID") or "").split())
            if message_id and seen(session, mailbox, message_id[:300]):
                continue
            _typ, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
            outcome = handle_once(session, mailbox, fetched_bytes(fetched), uid.decode(), handler)
            if outcome is None or outcome.understood:
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
            if outcome is not None:
                yield outcome
    finally:
        _logout(client)


def _quote_folder(folder: str) -> str:
    return folder if re.fullmatch(r"[A-Za-z0-9_./-]+", folder) else '"' + folder.replace('"', '\\"') + '"'


def listed(session: Session, limit: int = 200) -> list[InboundMessage]:
    """What the admin should look at: the messages nobody understood, newest first."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(InboundMessage.kind.in_(LISTED))
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)
        )
    )
