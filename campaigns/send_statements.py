"""The sender's statements (sending.py), built once per worker process: the claim with the read of the
contact and the spacing re-check, the SENT record with the mail's note, and the autocommit engine they
run on under PostgreSQL.

Only their parameters change from mail to mail, so a worker pays SQLAlchemy's construction of each
statement once, not once per mail. What each statement means is in sending.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Table, and_, bindparam, func, insert, null, or_, select, update
from sqlalchemy.orm import Session, aliased

from . import audience, spacing
from .models import Advisor, Contact, Delivery, DeliveryStatus, Note, Offer
from .reconcile import ABANDONED
from .sender import sender_of

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.PLANNED, DeliveryStatus.RETRYING)

_autocommit_engines: dict = {}


@dataclass(frozen=True, slots=True)
class Recipient:
    """What sending a mail needs of its contact, as it is at the claim (the composer's fields)."""

    id: int
    email: str | None
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    position: str | None
    company: str | None


@dataclass(frozen=True, slots=True)
class Sender:
    """The advisor a mail goes out from (sender.sender_of at the claim), with what the composer needs."""

    id: int
    name: str
    email: str
    phone: str | None
    signature: str | None


_RECIPIENT = (
    Contact.id,
    Contact.email,
    Contact.first_name,
    Contact.middle_name,
    Contact.last_name,
    Contact.position,
    Contact.company,
)
_SENDER = ("id", "name", "email", "phone", "signature")


def autocommit_bind(session: Session):
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


@functools.cache
def claim_statements(consent: bool, spaced: bool):
    """The claim (an UPDATE … RETURNING) and, on PostgreSQL, the claim, the read and the spacing re-check
    as one statement; built once per worker (only the parameters `delivery_id`, `now` and, when
    `spaced`, spacing.spacing_window's `since` and `until` change from mail to mail).

    The read gives plain columns (no ORM objects to load): the contact's (`Recipient`), the offer's
    status and version, the audience refusal, and the sender by the one rule in SQL
    (sender.sender_of; NULL columns when nobody may send it)."""
    claim_stmt = (
        update(Delivery)
        .where(Delivery.id == bindparam("delivery_id"), Delivery.status.in_(CLAIMABLE))
        .values(
            status=DeliveryStatus.SENDING,
            claimed_at=bindparam("now"),
            attempts=Delivery.attempts + 1,
            updated_at=bindparam("now"),
        )
        .returning(Delivery.contact_id, Delivery.offer_id, Delivery.attempts)
    )
    # The audience rule, evaluated on the contact's row as it is at the claim.
    refusal = audience.refusal(consent=consent).label("refusal")
    claiming = claim_stmt
    latest = null().label("spacing_latest")
    if spaced:
        neighbours = _spacing_neighbours()
        # Forces the neighbours' locks to be taken before this row is updated (see _spacing_neighbours).
        claiming = claim_stmt.where(select(func.count()).select_from(neighbours).scalar_subquery() >= 0)
        latest = spacing.spacing_latest(neighbours, bindparam("delivery_id")).scalar_subquery().label("spacing_latest")
    claimed = claiming.cte("claimed")
    owner, sender = aliased(Advisor), aliased(Advisor)
    sender_columns = [getattr(sender, name) for name in _SENDER]
    claim_and_read = (
        select(
            claimed.c.contact_id,
            claimed.c.offer_id,
            claimed.c.attempts,
            Offer.status,
            Offer.updated_at,
            refusal,
            latest,
            *_RECIPIENT,
            *sender_columns,
        )
        .select_from(claimed)
        .join(Contact, Contact.id == claimed.c.contact_id)
        .join(Offer, Offer.id == claimed.c.offer_id)
        .outerjoin(owner, owner.id == Contact.owner_id)
        .outerjoin(sender, sender.id == sender_of(owner))
    )
    read = (
        select(Offer.status, Offer.updated_at, refusal, *_RECIPIENT, *sender_columns)
        .select_from(Contact)
        .join(Offer, Offer.id == bindparam("offer_id"))
        .outerjoin(owner, owner.id == Contact.owner_id)
        .outerjoin(sender, sender.id == sender_of(owner))
        .where(Contact.id == bindparam("contact_id"))
    )
    return claim_stmt.execution_options(synchronize_session=False), claim_and_read, read


def _spacing_neighbours():
    """The contact's deliveries within the spacing window, locked (FOR NO KEY UPDATE) in id order: what
    the spacing re-check reads inside the claim statement.

    A statement reads the snapshot taken when it began, so of two mails to one contact claimed at the
    same instant each would miss the other's claim, and both would go. A locked row is read as it is
    after whoever held it has committed: a neighbour being claimed meanwhile is waited for and then
    seen as SENDING; one claimed after our lock waits for our claim and sees it. Every claim locks in
    the same order, its own row among them, before it updates that row: two claims never deadlock.
    """
    this_contact = select(Delivery.contact_id).where(Delivery.id == bindparam("delivery_id")).scalar_subquery()
    return (
        select(Delivery.id, Delivery.status, Delivery.send_on)
        .where(Delivery.contact_id == this_contact, spacing.in_spacing_window(Delivery.send_on))
        .order_by(Delivery.id)
        .with_for_update(key_share=True)
        .cte("neighbours")
    )


def recipient_and_sender(row, start: int) -> tuple[Recipient, Sender | None]:
    """The Recipient and the Sender (None: nobody may send it) from a read's columns from `start` on."""
    contact_end = start + len(_RECIPIENT)
    sender = row[contact_end:]
    return Recipient(*row[start:contact_end]), (Sender(*sender) if sender[0] is not None else None)


NOTE_COLUMNS = ("kind", "author_id", "body", "subject", "raw_message", "created_at")


@functools.cache
def record_statements():
    """SENT for this attempt, and on PostgreSQL SENT plus the note as one statement; built once per
    worker (only the parameters change from mail to mail)."""
    # Still SENDING; or taken for abandoned by the reconciler during this very attempt (the worker
    # was alive after all, e.g. starved of CPU past its heartbeat): the relay's 250 settles it.
    ours = or_(
        Delivery.status == DeliveryStatus.SENDING,
        and_(
            Delivery.status == DeliveryStatus.UNKNOWN,
            Delivery.last_error == ABANDONED,
            Delivery.attempts == bindparam("this_attempt"),
        ),
    )
    mark_sent = (
        update(Delivery)
        .where(Delivery.id == bindparam("delivery_id"), ours)
        .values(
            status=DeliveryStatus.SENT,
            message_id=bindparam("new_message_id"),
            sent_at=bindparam("sent_time"),
            advisor_id=bindparam("sent_by"),
            last_error=None,
            next_attempt_at=None,
            updated_at=bindparam("sent_time"),
        )
    )
    moved = mark_sent.returning(Delivery.id, Delivery.contact_id).cte("moved")
    # The table, not the entity: parameters given to an ORM insert would make it a bulk insert.
    note_table: Table = Note.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
    note_columns = note_table.c
    sent_and_note = (
        insert(note_table)
        .from_select(
            ["contact_id", "delivery_id", *NOTE_COLUMNS],
            select(
                moved.c.contact_id,
                moved.c.id,
                *(bindparam(f"note_{name}", type_=note_columns[name].type) for name in NOTE_COLUMNS),
            ),
        )
        .add_cte(moved)
    )
    return mark_sent.execution_options(synchronize_session=False), sent_and_note
