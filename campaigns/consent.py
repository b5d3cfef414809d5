"""Consent and the stop list: every way a contact stops receiving mail, in one place.

The ways in: the link in a mail (the page's button), the mail client's one-click POST
(RFC 8058) or its mail to the List-Unsubscribe mailto address, the advisor's «Отписать» on the
card (the client asked by phone, in a letter or in person), a hard bounce (5.1.1, now or
reported later) and a spam complaint (an ARF report).
Each one writes the address into the stop list through one idempotent
INSERT … ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike) and cancels the mail still
pending to that address (planned, queued, retrying, held), so whatever path stopped a contact,
nothing more goes out. A contact's wish also marks the contact and leaves one note; doing it
again changes nothing and adds no note.

An erasure (privacy.erase) leaves the address only as a hash. Where an address enters the contacts
(a new contact, a changed address, an import, the demo), `stop_erased` looks its hashes up once, in
Python, and puts a match back on the stop list as itself: the audience matches plain addresses only
and never computes a hash per contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import String, any_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import webhooks
from .audience import require_consent
from .config import current_settings
from .contacts import ContactError, NotAllowed, can_edit
from .db import address_hash, keyed_address_hash, utcnow
from .models import Advisor, Contact, Delivery, DeliveryStatus, Note, NoteKind, Role, Suppression, SuppressionReason

# Mail that has not gone out yet and must not once the address is stopped.
PENDING = (DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.HELD)

# How a contact asked (the note says it; the web form offers the advisor's ways).
LINK = "ссылка в письме"
ONE_CLICK = "одним нажатием в почтовой программе"
MAILTO = "письмом на адрес отписки"
ASKED = "по просьбе клиента"
BY_PHONE = "по телефону"
BY_LETTER = "письмом"
IN_PERSON = "при встрече"
COMPLAINT = "жалоба на спам"
ADVISOR_WAYS = (BY_PHONE, BY_LETTER, IN_PERSON)
# Why an address is back on the stop list as itself (stop_erased).
ERASED_AGAIN = (
    "данные этого человека удалены по его требованию (152-ФЗ), адрес снова внесён в контакты: рассылок на него не будет"
)

SUPPRESSION_LABELS = {
    SuppressionReason.UNSUBSCRIBE: "отписался",
    SuppressionReason.BOUNCE: "адрес не существует (возврат письма)",
    SuppressionReason.COMPLAINT: "пожаловался на спам",
    SuppressionReason.MANUAL: "исключён вручную",
}
_CANCEL_REASON = {
    SuppressionReason.UNSUBSCRIBE: "контакт отписался от рассылки",
    SuppressionReason.MANUAL: "контакт отписался от рассылки",
    SuppressionReason.BOUNCE: "адрес не существует",
    SuppressionReason.COMPLAINT: "контакт пожаловался на спам",
}


def _address(email: str) -> str:
    # Contacts store addresses lower-cased (contact_fields.normalize_email); a report may not.
    return email.strip().lower()


def erased_form(email: str) -> str:
    """The stop-list entry an erasure leaves for an address: its keyed hash (db.keyed_address_hash)."""
    return keyed_address_hash(_address(email), current_settings().secret_key) or ""


# How the stop list's erasure entries begin (db.keyed_address_hash, db.address_hash).
_HASHED = ("hmac:", "sha256:")


def _forms(address: str) -> tuple[str, ...]:
    """Every way the stop list may hold an address: itself, its keyed hash, the old plain hash."""
    return (address, erased_form(address), address_hash(address) or "")


class StopList(set):
    """The stop list in memory: `address in stop_list` holds for an address on it as itself or as
    the hash an erasure left (privacy.erase: keyed; the old plain one still counts)."""

    def __contains__(self, email) -> bool:
        if not isinstance(email, str):
            return False
        return any(set.__contains__(self, form) for form in _forms(_address(email)))


def stop_list(session: Session) -> StopList:
    """Every address on the stop list (normalised as `suppress` stores them), for checking a whole file at once."""
    return StopList(session.scalars(select(Suppression.email)))


def _listed(session: Session, by_form: dict[str, list[str]]) -> set[str]:
    """The values of `by_form` whose form (key) is on the stop list: on PostgreSQL in one query
    (the forms as one array parameter), elsewhere a thousand at a time."""
    forms = list(by_form)
    if not forms:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        batches = [Suppression.email == any_(bindparam("forms", forms, type_=postgresql.ARRAY(String)))]
    else:
        batches = [Suppression.email.in_(forms[start : start + 1000]) for start in range(0, len(forms), 1000)]
    found: set[str] = set()
    for condition in batches:
        for form in session.scalars(select(Suppression.email).where(condition)):
            found.update(by_form.get(form, ()))
    return found


def on_stop_list(session: Session, emails: Iterable[str]) -> set[str]:
    """Those of `emails` that are on the stop list (as themselves or as the hash an erasure left),
    in the form given: the addresses are looked up as themselves, and the hashes an erasure left
    are found as `erasure_left` finds them (a file's: the stop list's hash entries read once,
    the addresses hashed only when there are any); the stop list is not read whole."""
    by_address: dict[str, list[str]] = {}
    for email in set(emails):
        by_address.setdefault(_address(email), []).append(email)
    found = _listed(session, by_address)
    for address in erasure_left(session, by_address):
        found.update(by_address[address])
    return found


def erasure_left(session: Session, emails: Iterable[str | None]) -> set[str]:
    """Those of `emails` (normalised) whose person was erased: the stop list holds their keyed hash,
    or the old plain one. A few addresses are looked up by their hashes; a file's are hashed only
    when the stop list holds any erasure at all, and compared with those entries in memory."""
    given = [email for email in emails if email]
    secret_key = current_settings().secret_key
    if len(given) <= 100:
        by_form: dict[str, list[str]] = {}
        for address in {_address(email) for email in given}:
            for form in (keyed_address_hash(address, secret_key), address_hash(address)):
                by_form.setdefault(form or "", []).append(address)
        return _listed(session, by_form)
    erasures = set(session.scalars(select(Suppression.email).where(or_(*(Suppression.email.startswith(p) for p in _HASHED)))))
    if not erasures:
        return set()  # nobody erased yet: nothing to hash
    addresses = {_address(email) for email in given}
    # Only the kinds of hash the stop list holds (a newer installation: keyed ones only).
    hashers: list[Callable[[str], str | None]] = [partial(keyed_address_hash, secret_key=secret_key), address_hash]
    hashers = [hash_of for prefix, hash_of in zip(_HASHED, hashers, strict=True) if any(e.startswith(prefix) for e in erasures)]
    return {address for address in addresses if any(hash_of(address) in erasures for hash_of in hashers)}


def stop_erased(session: Session, emails: Iterable[str | None], *, now: datetime | None = None) -> set[str]:
    """These addresses are entering the contacts (a new contact, a changed address, an import): those
    an erasure left on the stop list as a hash go back on it as themselves (and their pending mail
    is cancelled), so the audience matches plain addresses only. Every path that writes a
    contact's address calls this. Returns the addresses put back."""
    erased = erasure_left(session, emails)
    for address in sorted(erased):
        suppress(session, address, SuppressionReason.MANUAL, ERASED_AGAIN, now=now)
    return erased


def find_suppression(session: Session, email: str | None) -> Suppression | None:
    """The stop-list entry for an address (as audience.suppressed() matches it: the address itself)."""
    if not email:
        return None
    return session.scalar(select(Suppression).where(Suppression.email == _address(email)))


def suppress(
    session: Session,
    email: str,
    reason: SuppressionReason,
    detail: str = "",
    *,
    author_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Put the address on the stop list (a second time changes nothing) and cancel the mail
    pending to every contact at it. Returns how many deliveries were cancelled."""
    now = now or utcnow()
    email = _address(email)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(Suppression)
        .values(email=email, reason=reason, detail=detail, created_by_id=author_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    return cancel_pending(session, select(Contact.id).where(Contact.email == email), _CANCEL_REASON[reason], now)


def cancel_pending(session: Session, contact_ids, why: str, now: datetime | None = None) -> int:
    """Cancel the not-yet-sent deliveries of `contact_ids` (a SELECT of ids)."""
    return (
        session.execute(
            update(Delivery)
            .where(Delivery.contact_id.in_(contact_ids), Delivery.status.in_(PENDING))
            .values(status=DeliveryStatus.CANCELLED, last_error=why, updated_at=now or utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        or 0
    )


def unsubscribe(
    session: Session,
    contact: Contact,
    *,
    how: str,
    reason: SuppressionReason = SuppressionReason.UNSUBSCRIBE,
    detail: str = "",
    author: Advisor | None = None,
    delivery: Delivery | None = None,
    now: datetime | None = None,
) -> bool:
    """The contact is to get no more mailings. True when this call changed the contact (and
    wrote the note); a repeat only makes sure the stop list and the cancellations hold."""
    now = now or utcnow()
    # A conditional update: of two simultaneous requests exactly one writes the note.
    claimed = session.execute(
        update(Contact)
        .where(Contact.id == contact.id, Contact.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    why = _CANCEL_REASON[reason]
    cancelled = cancel_pending(session, select(Contact.id).where(Contact.id == contact.id), why, now)
    if contact.email:
        cancelled += suppress(session, contact.email, reason, detail, author_id=author.id if author else None, now=now)
    session.refresh(contact)
    if not claimed:
        return False
    who = f", {author.name}" if author else ""
    body = f"Отписан от рассылок ({how}{who})"
    if delivery is not None:
        from .sending import sent_subject  # sending imports this module

        body += f" после письма «{sent_subject(session, delivery)}»"
    body += f": {detail}." if detail and author else "."
    if cancelled:
        body += f" Отменено запланированных писем: {cancelled}."
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.UNSUBSCRIBE,
            author_id=author.id if author else None,
            body=body,
            delivery_id=delivery.id if delivery else None,
            created_at=now,
        )
    )
    session.flush()
    webhooks.emit(
        "contact.unsubscribed",
        {
            "contact_id": contact.id,
            "owner_id": contact.owner_id,
            "email": contact.email,
            "how": how,
            "reason": reason.value,
            "at": now.isoformat(),
            "delivery_id": delivery.id if delivery else None,
        },
        session=session,
    )
    return True


def unsubscribe_by_link(session: Session, delivery_id: int, *, how: str = LINK, now: datetime | None = None) -> Contact | None:
    """A signed unsubscribe token of a delivery (/u/<token>, one-click, the mailto address):
    the contact the delivery went to; None when the delivery is unknown."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    from .sending import sent_subject  # sending imports this module

    contact = session.get_one(Contact, delivery.contact_id)
    subject = sent_subject(session, delivery)
    unsubscribe(session, contact, how=how, delivery=delivery, now=now, detail=f"отписка: {how}, письмо «{subject}»")
    return contact


def unsubscribe_by_advisor(session: Session, user: Advisor, contact: Contact, *, how: str = "", reason: str = "") -> bool:
    """The client asked the advisor (by phone, in a letter, in person) to get no more mailings."""
    if not can_edit(user, contact):
        raise NotAllowed("Отписать контакт может только его владелец или администратор.")
    if how and how not in ADVISOR_WAYS:
        raise ContactError({"how": "Выберите, как клиент попросил"})
    return unsubscribe(
        session, contact, how=how or ASKED, reason=SuppressionReason.MANUAL, detail=" ".join(reason.split()), author=user
    )


def complaint(session: Session, email: str, *, delivery: Delivery | None = None, detail: str = "") -> int:
    """A spam complaint about a mail to `email`: every contact at the address is unsubscribed.
    Returns how many contacts it changed."""
    email = _address(email)
    changed = 0
    for contact in session.scalars(select(Contact).where(Contact.email == email)):
        mine = delivery if delivery is not None and delivery.contact_id == contact.id else None
        changed += unsubscribe(session, contact, how=COMPLAINT, reason=SuppressionReason.COMPLAINT, delivery=mine, detail=detail)
    suppress(session, email, SuppressionReason.COMPLAINT, detail)
    return changed


def bounce(session: Session, email: str, detail: str) -> int:
    """An unknown mailbox (5.1.1): the address is stopped, the contact is not marked (the client
    did not ask; a new address brings it back). Returns how many deliveries were cancelled."""
    return suppress(session, email, SuppressionReason.BOUNCE, detail)


# --- what the card shows, and the way back --------------------------------------------------


@dataclass
class ConsentFacts:
    """What the card shows about 38-FZ consent and opt-out."""

    source: str
    given_at: datetime | None
    unsubscribed_at: datetime | None
    suppression: Suppression | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mailable(self) -> bool:
        return self.unsubscribed_at is None and self.suppression is None

    @property
    def lacks_consent(self) -> bool:
        """No consent on record while REQUIRE_CONSENT holds: no mailing goes (audience.py)."""

        return self.given_at is None and require_consent()


def consent_facts(session: Session, contact: Contact) -> ConsentFacts:
    suppression = find_suppression(session, contact.email)
    return ConsentFacts(contact.consent_source or "", contact.consent_at, contact.unsubscribed_at, suppression)


def resubscribe(session: Session, user: Advisor, contact: Contact, consent_source: str | None) -> None:
    """Mailings again, only with a new consent on record (38-FZ: the sender proves consent).
    A bounce or complaint suppression stays: those are facts about the mailbox, not a wish."""
    if user.role != Role.ADMIN:
        raise NotAllowed("Вернуть контакт в рассылку может администратор.")
    if contact.erased_at is not None:
        raise NotAllowed("Данные этого человека удалены (152-ФЗ): вернуть его в рассылку нельзя.")
    consent_source = " ".join((consent_source or "").split())
    if not consent_source:
        raise ContactError({"consent_source": "Укажите, откуда новое согласие на рассылку"})
    now = utcnow()
    contact.unsubscribed_at = None
    contact.consent_source = consent_source[:300]
    contact.consent_at = now
    if contact.email and not erasure_left(session, [contact.email]):  # an erased person stays stopped
        suppression = session.scalar(select(Suppression).where(Suppression.email == contact.email))
        if suppression is not None and suppression.reason in (SuppressionReason.UNSUBSCRIBE, SuppressionReason.MANUAL):
            session.delete(suppression)
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.SYSTEM,
            author_id=user.id,
            created_at=now,
            body=f"Снова в рассылке ({user.name}); согласие: {consent_source}",
        )
    )
    session.flush()


class StopListKept(ValueError):
    """The address stays on the stop list: the person asked (or complained); only a new consent brings them back."""


def unsuppress(session: Session, user: Advisor, entry: Suppression, reason: str, now: datetime | None = None) -> None:
    """Admin takes an address off the stop list, with a reason: one put there by hand or by a bounce
    (the mailbox exists again). An unsubscribe or a complaint stays — also an advisor's «Отписать»
    (a contact at the address is marked unsubscribed): that was the person's wish,
    and `resubscribe` with a new consent is the only way back. The hash an erasure left of the
    address goes with it (an erased person added again: the admin's decision holds for the next
    entry too). Each contact at the address gets a note. The caller commits."""
    if user.role != Role.ADMIN:
        raise NotAllowed("Убрать адрес из стоп-листа может только администратор.")
    asked = session.scalar(select(Contact.id).where(Contact.email == entry.email, Contact.unsubscribed_at.is_not(None)).limit(1))
    if entry.reason in (SuppressionReason.UNSUBSCRIBE, SuppressionReason.COMPLAINT) or asked is not None:
        raise StopListKept(
            "Адрес отписался или пожаловался на спам: вернуть его можно только с новым согласием "
            "(«Вернуть в рассылку» на карточке контакта)."
        )
    if not reason.strip():
        raise ContactError({"reason": "Укажите причину"})
    now = now or utcnow()
    for contact_id in session.scalars(select(Contact.id).where(Contact.email == entry.email)):
        session.add(
            Note(
                contact_id=contact_id,
                kind=NoteKind.SYSTEM,
                author_id=user.id,
                created_at=now,
                body=f"Адрес {entry.email} убран из стоп-листа ({user.name}): {reason}.",
            )
        )
    session.delete(entry)
    # An erased person's hash goes too: otherwise the address, added again, would be stopped again.
    session.execute(delete(Suppression).where(Suppression.email.in_(_forms(entry.email)[1:])))
    session.flush()
