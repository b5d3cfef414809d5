"""Replies: the clients' answers, read from each advisor's own mailbox.

An advisor connects the mailbox the offers' Reply-To points to (IMAP host, user and an app
password; «Почта для ответов»). The password is stored encrypted with Fernet under a key
derived from SECRET_KEY (HKDF-SHA256), never in the clear, and shown to nobody.

Every few minutes the scheduler polls each connected mailbox (tasks.poll_replies) for the
messages that arrived since the last poll (IMAP UIDs above the last one seen; the first poll
reads from the day the mailbox was connected). Only the headers are fetched first; a message
is read whole only when its In-Reply-To/References name one of our mails' Message-IDs or its
sender is one of the advisor's own contacts — the advisor's other mail is never read nor kept.
Nothing is marked or moved in the advisor's mailbox.

- A reply becomes a note on the contact: the new text, the quoted part and the signature
  stripped (mail-parser-reply), with the whole message openable from the note; the contact
  goes first on the advisor's hot list as «ответил» (hotlist.py) and the reply counts in the
  results per offer, tag and advisor (one per mail replied to).
- An auto-reply (RFC 3834 Auto-Submitted, X-Autoreply, Precedence: auto_reply, «Автоответ»,
  «Out of office») becomes a note only: not hot, not counted.

Each message is recorded once in inbound_messages under (advisor's mailbox, Message-ID), as
the system mailbox's are (inbound.handle_once).

The host and port are the advisor's to type, and the server connects to them (the connection
test, every poll): so only the IMAP ports (993, 143) are reached, and the host goes through
netguard.py — a loopback, private or link-local address is refused unless its network is listed
in MAILBOX_ALLOWED_NETWORKS (an in-house mail server; on such a network any port is allowed,
as the admin vouched for it). The connection goes to the address that was checked.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mailparser_reply import EmailReplyParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import inbound, netguard, sending, webhooks
from .config import Settings
from .db import utcnow
from .models import Advisor, AdvisorMailbox, Contact, Delivery, DeliveryStatus, InboundMessage, Note, NoteKind, Offer

log = logging.getLogger(__name__)

ALLOWED_NETWORKS_ENV = "MAILBOX_ALLOWED_NETWORKS"
IMAP_PORTS = (993, 143)
REPLY = "reply"
AUTOREPLY = "autoreply"
POLL_SECONDS = 180
FETCH_BATCH = 200
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class MailboxError(Exception):
    """What the advisor reads when the mailbox cannot be reached (Russian)."""


# --- the stored password ---------------------------------------------------------------------


def _fernet(secret_key: str):

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"campaigns: advisor mailbox password").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_password(password: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(password.encode()).decode()


def decrypt_password(token: str, secret_key: str) -> str:

    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise MailboxError("Пароль почты сохранён с другим SECRET_KEY: подключите почту заново.") from None


# --- connecting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxSettings:
    host: str
    port: int
    tls: bool
    username: str
    password: str
    folder: str = "INBOX"


class _PinnedIMAP4(imaplib.IMAP4):
    """imaplib's client connecting to an address already checked (no second lookup)."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self._address, self.port), timeout)


class _PinnedIMAP4_SSL(imaplib.IMAP4_SSL):  # noqa: N801  # imaplib's spelling
    def __init__(self, host: str, port: int, address: str, timeout: float):
        self._address = address
        super().__init__(host, port, timeout=timeout, ssl_context=ssl.create_default_context())

    def _create_socket(self, timeout):
        sock = socket.create_connection((self._address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def checked_address(box: MailboxSettings) -> str:
    """The address of the advisor's server, when the server may connect to it; MailboxError otherwise."""
    try:
        checked = netguard.check_host(box.host, box.port, ALLOWED_NETWORKS_ENV)
    except netguard.Refused as exc:
        raise MailboxError(f"{exc}.") from None
    if box.port not in IMAP_PORTS and not checked.vouched:
        raise MailboxError(f"Порт {box.port} — не порт IMAP: укажите 993 (SSL/TLS) или 143.")
    return checked.address


def connect(box: MailboxSettings, timeout: float = 20) -> imaplib.IMAP4:
    """A logged-in client with the folder selected read-only; MailboxError in Russian otherwise."""
    address = checked_address(box)
    try:
        if box.tls:
            client: imaplib.IMAP4 = _PinnedIMAP4_SSL(box.host, box.port, address, timeout)
        else:
            client = _PinnedIMAP4(box.host, box.port, address, timeout)
    except (socket.gaierror, ConnectionRefusedError) as exc:
        raise MailboxError(f"Сервер {box.host}:{box.port} не отвечает ({exc.strerror or exc}).") from None
    except ssl.SSLError as exc:
        raise MailboxError(f"Не удалось установить защищённое соединение с {box.host}:{box.port} ({exc.reason}).") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"Сервер {box.host}:{box.port} не отвечает ({exc}).") from None
    try:
        try:
            client.login(box.username, box.password)
        except imaplib.IMAP4.error:
            raise MailboxError(
                "Сервер не принял имя пользователя или пароль. Для Яндекса, Mail.ru и Gmail нужен "
                "пароль приложения, а не пароль от почты."
            ) from None
        typ, _data = client.select(inbound._quote_folder(box.folder), readonly=True)
        if typ != "OK":
            raise MailboxError(f"В почте нет папки «{box.folder}».")
        return client
    except MailboxError:
        inbound._logout(client)
        raise
    except (OSError, imaplib.IMAP4.error) as exc:
        inbound._logout(client)
        raise MailboxError(f"Соединение с {box.host} оборвалось ({exc}).") from None


def check(box: MailboxSettings) -> str:
    """The connection test button: a line for the advisor, or MailboxError."""
    client = connect(box)
    try:
        _typ, data = client.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
        count = len((data[0] or b"").split())
    finally:
        inbound._logout(client)
    return f"Подключение работает: в папке «{box.folder}» писем: {count}."


def save(session: Session, advisor: Advisor, box: MailboxSettings, secret_key: str) -> AdvisorMailbox:
    """Connect (or reconnect) the advisor's mailbox after a successful test."""
    check(box)
    row = session.scalar(select(AdvisorMailbox).where(AdvisorMailbox.advisor_id == advisor.id))
    if row is None:
        row = AdvisorMailbox(advisor_id=advisor.id, connected_at=utcnow())
        session.add(row)
    same_place = (row.host, row.username, row.folder) == (box.host, box.username, box.folder)
    row.host, row.port, row.tls, row.username, row.folder = box.host, box.port, box.tls, box.username, box.folder
    row.password_encrypted = encrypt_password(box.password, secret_key)
    row.last_error = None
    if not same_place:
        row.uidvalidity, row.last_uid, row.connected_at = None, 0, utcnow()
    session.flush()
    return row


def disconnect(session: Session, advisor: Advisor) -> None:
    row = session.scalar(select(AdvisorMailbox).where(AdvisorMailbox.advisor_id == advisor.id))
    if row is not None:
        session.delete(row)
        session.flush()


def settings_of(row: AdvisorMailbox, secret_key: str) -> MailboxSettings:
    return MailboxSettings(
        row.host, row.port, row.tls, row.username, decrypt_password(row.password_encrypted, secret_key), row.folder
    )


# --- polling -------------------------------------------------------------------------------------


def poll_all(session: Session, settings: Settings) -> int:
    """Poll every connected mailbox of an active advisor; the number of replies found."""
    found = 0
    rows = session.scalars(
        select(AdvisorMailbox)
        .join(Advisor, Advisor.id == AdvisorMailbox.advisor_id)
        .where(Advisor.active.is_(True))
        .order_by(AdvisorMailbox.id)
    ).all()
    for row in rows:
        try:
            found += poll(session, row, settings)
        except MailboxError as exc:
            session.rollback()
            row.last_error, row.checked_at = str(exc), utcnow()
            session.commit()
            log.warning("advisor %s: mailbox not read: %s", row.advisor_id, exc)
    return found


def poll(session: Session, row: AdvisorMailbox, settings: Settings) -> int:
    """Read the advisor's new mail once; the number of replies (not auto-replies) found."""
    client = connect(settings_of(row, settings.secret_key))
    replies = 0
    try:
        uidvalidity = int((client.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
        if row.uidvalidity != uidvalidity:  # first poll, or the folder was rebuilt: start again from the connect day
            row.uidvalidity, row.last_uid = uidvalidity, 0
            since = row.connected_at - timedelta(days=1)
            criteria = f"SINCE {since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}"
        else:
            criteria = f"UID {row.last_uid + 1}:*"
        _typ, data = client.uid("SEARCH", None, criteria)  # type: ignore[arg-type]  # imaplib takes bytes and None; its stubs say str
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > row.last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            for uid in _interesting(session, client, row.advisor_id, batch):
                _typ, fetched = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                raw = inbound.fetched_bytes(fetched)
                if not raw:
                    continue
                outcome = inbound.handle_once(
                    session,
                    f"advisor:{row.advisor_id}",
                    raw,
                    str(uid),
                    lambda s, m, r, a=row.advisor_id: handle_reply(s, a, m, r),  # type: ignore[misc]
                )
                replies += outcome is not None and outcome.kind == REPLY
            row.last_uid = batch[-1]
            session.commit()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"Соединение с {row.host} оборвалось ({exc}).") from None
    finally:
        inbound._logout(client)
    row.checked_at, row.last_error = utcnow(), None
    session.commit()
    return replies


def _interesting(session: Session, client: imaplib.IMAP4, advisor_id: int, uids: list[int]) -> list[int]:
    """The UIDs whose headers name one of our mails or come from one of the advisor's contacts."""
    uid_set = ",".join(str(u) for u in uids)
    _typ, fetched = client.uid("FETCH", uid_set, "(UID BODY.PEEK[HEADER.FIELDS (FROM MESSAGE-ID IN-REPLY-TO REFERENCES)])")
    heads: dict[int, tuple[str, set[str]]] = {}
    for item in fetched or ():
        if not isinstance(item, tuple):
            continue
        match = re.search(rb"UID (\d+)", item[0])
        if not match:
            continue
        message = inbound.parse(item[1])
        refs = set(_MESSAGE_ID.findall(inbound.header(message, "In-Reply-To") + " " + inbound.header(message, "References")))
        heads[int(match.group(1))] = (inbound.sender_address(message), refs)
    all_refs = set().union(*(refs for _sender, refs in heads.values())) if heads else set()
    ours = set(session.scalars(select(Delivery.message_id).where(Delivery.message_id.in_(all_refs)))) if all_refs else set()
    senders = {sender for sender, _refs in heads.values() if sender}
    contacts = (
        set(
            session.scalars(
                select(func.lower(Contact.email)).where(Contact.owner_id == advisor_id, func.lower(Contact.email).in_(senders))
            )
        )
        if senders
        else set()
    )
    return [uid for uid, (sender, refs) in sorted(heads.items()) if refs & ours or sender in contacts]


def _find_contact(session: Session, advisor_id: int, message) -> tuple[Contact | None, Delivery | None]:
    refs = _MESSAGE_ID.findall(inbound.header(message, "In-Reply-To") + " " + inbound.header(message, "References"))
    if refs:
        delivery = session.scalar(select(Delivery).where(Delivery.message_id.in_(refs)).order_by(Delivery.id.desc()).limit(1))
        if delivery is not None:
            return session.get(Contact, delivery.contact_id), delivery
    sender = inbound.sender_address(message)
    if not sender:
        return None, None
    contact = session.scalar(
        select(Contact)
        .where(Contact.owner_id == advisor_id, func.lower(Contact.email) == sender)
        .order_by(Contact.archived_at.is_not(None), Contact.id)
        .limit(1)
    )
    if contact is None:
        return None, None
    # The offer it answers: the latest mail that went to the contact.
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    )
    return contact, delivery


def reply_text(message) -> str:
    """The new text of a reply: the quoted mail and the signature stripped."""

    text = inbound.text_of(message).replace("\r\n", "\n").strip()
    if not text:
        return ""
    try:
        parsed = EmailReplyParser(languages=["ru", "en", "de", "fr"]).read(text)
        new = parsed.replies[0].body.strip() if parsed.replies else ""
    except Exception:  # noqa: BLE001 - a parser failure must not lose the reply: keep it whole
        log.exception("cannot split a reply")
        new = ""
    if not new:
        new = "\n".join(line for line in text.splitlines() if not line.startswith(">")).strip()
    return new


def handle_reply(session: Session, advisor_id: int, message, raw: bytes) -> inbound.Outcome:
    if inbound.sender_address(message) == (
        session.scalar(select(func.lower(Advisor.email)).where(Advisor.id == advisor_id)) or ""
    ):
        return inbound.Outcome("ignored", "письмо самого советника", advisor_id=advisor_id)
    contact, delivery = _find_contact(session, advisor_id, message)
    if contact is None:
        return inbound.Outcome("ignored", advisor_id=advisor_id)
    subject = inbound.header(message, "Subject")
    auto = inbound.is_auto_reply(message)
    text = reply_text(message)
    about = f" на письмо «{sending.sent_subject(session, delivery)}»" if delivery is not None else ""
    if auto:
        body = f"Автоответ{about}: {text[:500]}" if text else f"Автоответ{about}."
    else:
        body = f"Клиент ответил{about}:\n{text}" if text else f"Клиент ответил{about} (без текста)."
    now = utcnow()
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.MAIL,
            author_id=None,
            body=body,
            subject=(subject or "(без темы)")[:300],
            raw_message=raw.decode("utf-8", "replace"),
            delivery_id=delivery.id if delivery is not None else None,
            created_at=now,
        )
    )
    kind = AUTOREPLY if auto else REPLY
    outcome = inbound.Outcome(
        kind,
        text[:500],
        contact_id=contact.id,
        advisor_id=advisor_id,
        delivery_id=delivery.id if delivery is not None else None,
        changed=1,
    )
    if not auto:
        _emit_replied(session, contact, delivery, text)
    return outcome


def _emit_replied(session: Session, contact: Contact, delivery: Delivery | None, text: str) -> None:
    """contact.replied for the webhooks (sent when the reply's transaction commits)."""

    webhooks.emit(
        "contact.replied",
        {
            "contact_id": contact.id,
            "owner_id": contact.owner_id,
            "email": contact.email,
            "delivery_id": delivery.id if delivery is not None else None,
            "offer_id": delivery.offer_id if delivery is not None else None,
            "text": text[:2000],
        },
        session=session,
    )


# --- what other pages show --------------------------------------------------------------------


def replied_contacts(session: Session, advisor_id: int, since: datetime) -> list[tuple[int | None, datetime]]:
    """(contact, last reply) of the advisor's live contacts who replied since `since` and since
    the advisor last handled them on the hot list, newest first."""
    last = func.max(InboundMessage.received_at)
    return [
        (cid, at)
        for cid, at in session.execute(
            select(InboundMessage.contact_id, last)
            .join(Contact, Contact.id == InboundMessage.contact_id)
            .where(
                InboundMessage.kind == REPLY,
                InboundMessage.received_at >= since,
                Contact.owner_id == advisor_id,
                Contact.archived_at.is_(None),
                (Contact.hot_handled_at.is_(None)) | (InboundMessage.received_at > Contact.hot_handled_at),
            )
            .group_by(InboundMessage.contact_id)
            .order_by(last.desc(), InboundMessage.contact_id)
        )
    ]


def reply_counts(session: Session, by: str, year: int | None) -> dict[int, int]:
    """Mails replied to (one per delivery, auto-replies not counted) per offer, tag or advisor."""

    key = {"offer": Offer.id, "tag": Offer.tag_id, "advisor": func.coalesce(Delivery.advisor_id, Contact.owner_id)}[by]
    replied = (
        select(InboundMessage.delivery_id)
        .where(InboundMessage.kind == REPLY, InboundMessage.delivery_id.is_not(None))
        .distinct()
        .subquery()
    )
    query = (
        select(key, func.count(replied.c.delivery_id))
        .select_from(replied)
        .join(Delivery, Delivery.id == replied.c.delivery_id)
        .join(Offer, Offer.id == Delivery.offer_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .group_by(key)
    )
    if year is not None:
        query = query.where(Offer.year == year)
    return {int(k): int(n) for k, n in session.execute(query)}
