"""One person's data (152-FZ): everything stored about a contact, and its erasure.

`export()` gathers what the database holds about the person — the card, tags, consent and
stop-list state, every note (mails as they went out), every mail and every click with its
address and browser — as one JSON-ready dict; the page shows the same dict.

`erase()` removes the personal fields and keeps only anonymous counts: the contact row stays
(archived, «удалённый контакт») with its tags, its mails and clicks (so the results still add
up), its notes without their text. Its address goes on the stop list only as a keyed hash
(consent.erased_form: HMAC-SHA256, key derived from SECRET_KEY): the person is never mailed again —
an address entering the contacts again is checked against the hash (consent.stop_erased) and goes
back on the stop list as itself, as does the address of another contact still holding it — and
nobody can read the address back or test a guess against it. Imports that still hold the person (an uploaded file
waiting for its commit, a preview in Redis) lose them: import_jobs.forget_address.

The page (admin) and `flask campaigns erase EMAIL` (the server's operator) both call `erase()`.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from . import consent, import_jobs
from .contacts import NotAllowed
from .db import utcnow
from .extensions import redis_client
from .models import Advisor, Click, Contact, Delivery, Link, Note, NoteKind, Role, Suppression, SuppressionReason

ERASED_NAME = "Удалённый контакт"
ERASED_NOTE = "Персональные данные удалены по требованию (152-ФЗ)"


def contacts_at(session: Session, email: str) -> list[Contact]:
    """Every contact at this address, whatever its case (`flask campaigns erase`)."""
    return list(session.scalars(select(Contact).where(func.lower(Contact.email) == email.strip().lower()).order_by(Contact.id)))


def _value(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def export(session: Session, contact: Contact) -> dict:
    """Everything stored about the contact, JSON-ready, grouped as the page shows it."""
    card = {
        name: _value(getattr(contact, name))
        for name in (
            "id",
            "last_name",
            "first_name",
            "middle_name",
            "company",
            "company_alias",
            "position",
            "email",
            "phone",
            "next_contact_on",
            "next_contact_time",
            "next_contact_topic",
            "consent_source",
            "consent_at",
            "unsubscribed_at",
            "archived_at",
            "erased_at",
            "created_at",
            "updated_at",
        )
    }
    card["owner"] = {"name": contact.owner.name, "email": contact.owner.email}
    card["tags"] = [tag.name for tag in contact.tags]
    suppression = consent.find_suppression(session, contact.email)
    notes = session.scalars(select(Note).where(Note.contact_id == contact.id).order_by(Note.created_at, Note.id))
    deliveries = session.scalars(
        select(Delivery).where(Delivery.contact_id == contact.id).order_by(Delivery.send_on, Delivery.id)
    )
    clicks = session.execute(
        select(Click, Link.label, Link.url)
        .outerjoin(Link, Link.id == Click.link_id)
        .where(Click.contact_id == contact.id)
        .order_by(Click.clicked_at, Click.id)
    )
    return {
        "contact": card,
        "stop_list": None
        if suppression is None
        else {"reason": suppression.reason.value, "since": _value(suppression.created_at), "detail": suppression.detail},
        "notes": [
            {
                "at": _value(n.created_at),
                "kind": n.kind.value,
                "author": n.author.name if n.author else None,
                "text": n.body,
                "subject": n.subject,
                "interest": n.interest,
                "objection": n.objection,
                "result": n.result,
                "next_contact_on": _value(n.next_contact_on),
                "message": n.raw_message,
            }
            for n in notes
        ],
        "mails": [
            {
                "id": d.id,
                "offer": f"{d.offer.tag.name} {d.offer.year}",
                "subject": d.offer.subject,
                "status": d.status.value,
                "send_on": _value(d.send_on),
                "sent_at": _value(d.sent_at),
                "from": d.advisor.name if d.advisor else None,
                "message_id": d.message_id,
            }
            for d in deliveries
        ],
        "clicks": [
            {
                "at": _value(c.clicked_at),
                "link": label or url,
                "mail": c.delivery_id,
                "ip": c.ip,
                "browser": c.user_agent,
                "verdict": c.verdict.value,
            }
            for c, label, url in clicks
        ],
    }


def erase(session: Session, admin: Advisor | None, contact: Contact, now: datetime | None = None) -> None:
    """Erase the person behind `contact` (see the module's text). Admin only (`admin` None: the server's
    operator, `flask campaigns erase`); a second time changes nothing."""
    if admin is not None and admin.role != Role.ADMIN:
        raise NotAllowed("Удалить персональные данные может администратор.")
    if contact.erased_at is not None:
        return
    now = now or utcnow()
    email = contact.email
    author_id = admin.id if admin else None
    by = admin.name if admin else "с консоли сервера"
    consent.cancel_pending(session, select(Contact.id).where(Contact.id == contact.id), "персональные данные удалены", now)
    if email:
        address = email.strip().lower()
        session.execute(delete(Suppression).where(Suppression.email == address))
        consent.suppress(
            session, consent.erased_form(address), SuppressionReason.MANUAL, ERASED_NOTE, author_id=author_id, now=now
        )
        import_jobs.forget_address(redis_client(), address)
    for name in (
        "first_name",
        "middle_name",
        "last_name",
        "company",
        "company_alias",
        "position",
        "consent_source",
        "next_contact_topic",
    ):
        setattr(contact, name, "")
    contact.first_name = ERASED_NAME
    contact.email = contact.phone = contact.next_contact_on = contact.next_contact_time = None
    contact.archived_at = contact.archived_at or now
    contact.unsubscribed_at = contact.unsubscribed_at or now
    contact.erased_at = now
    contact.hot_handled_at = now
    # Notes stay as counts (how many calls, mails) without what they said.
    session.execute(
        update(Note)
        .where(Note.contact_id == contact.id)
        .values(body="", subject=None, raw_message=None, objection=None, result=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Click)
        .where(Click.contact_id == contact.id)
        .values(ip=None, user_agent=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.contact_id == contact.id)
        .values(last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.SYSTEM,
            author_id=author_id,
            created_at=now,
            body=f"{ERASED_NOTE} ({by}). Адрес остался в стоп-листе только в виде хеша.",
        )
    )
    session.flush()
    if email and session.scalar(select(Contact.id).where(Contact.email == email.strip().lower()).limit(1)) is not None:
        consent.stop_erased(session, [email], now=now)  # another contact still holds the address
    session.expire_all()
