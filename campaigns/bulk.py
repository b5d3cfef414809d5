"""Work on several contacts at once (the contacts list's selection): tag, untag, archive, restore,
hand over, export. Each acts only on the selected contacts the user may change — an advisor their
own live ones, an admin any — and leaves a note on each contact it changed, as one change would.
Handing over is ownership.transfer_contacts (admin only), exporting export.export_csv."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, selectinload

from . import contacts
from .db import utcnow
from .models import Advisor, Contact, Note, NoteKind, Role, Tag, contact_tags

__all__ = ["MAX_SELECTED", "archive", "changeable", "restore", "tag", "untag"]

MAX_SELECTED = 1000  # ids in one request: a page of the list is 50; «select all» selects the page


def changeable(session: Session, user: Advisor, ids: Iterable[int], *, archived: bool = False) -> list[Contact]:
    """The selected contacts `user` may change (archived ones only when restoring)."""
    wanted = sorted({int(i) for i in ids})[:MAX_SELECTED]
    if not wanted or user.role not in (Role.ADVISOR, Role.ADMIN):
        return []
    query = select(Contact).where(Contact.id.in_(wanted)).options(selectinload(Contact.tags))
    query = query.where(Contact.archived_at.is_not(None) if archived else Contact.archived_at.is_(None))
    if user.role == Role.ADVISOR:
        query = query.where(Contact.owner_id == user.id)
    return list(session.scalars(query.order_by(Contact.id)))


def _notes(session: Session, user: Advisor, contact_ids: list[int], body: str) -> None:
    if contact_ids:
        now = utcnow()
        session.execute(
            insert(Note),
            [
                {"contact_id": cid, "kind": NoteKind.SYSTEM, "author_id": user.id, "body": body, "created_at": now}
                for cid in contact_ids
            ],
        )


def tag(session: Session, user: Advisor, ids: Iterable[int], the_tag: Tag) -> int:
    """Add `the_tag` to the selected contacts that lack it; returns how many got it."""
    missing = [c.id for c in changeable(session, user, ids) if the_tag not in c.tags]
    if missing:
        session.execute(insert(contact_tags), [{"contact_id": cid, "tag_id": the_tag.id} for cid in missing])
        _notes(session, user, missing, f"Добавлен тег «{the_tag.name}» ({user.name})")
        _touch(session, missing)
    return len(missing)


def untag(session: Session, user: Advisor, ids: Iterable[int], the_tag: Tag) -> int:
    """Take `the_tag` off the selected contacts that have it; returns how many lost it."""
    having = [c.id for c in changeable(session, user, ids) if the_tag in c.tags]
    if having:
        session.execute(delete(contact_tags).where(contact_tags.c.contact_id.in_(having), contact_tags.c.tag_id == the_tag.id))
        _notes(session, user, having, f"Снят тег «{the_tag.name}» ({user.name})")
        _touch(session, having)
    return len(having)


def _touch(session: Session, ids: list[int]) -> None:

    session.execute(
        update(Contact).where(Contact.id.in_(ids)).values(updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    session.expire_all()


def archive(session: Session, user: Advisor, ids: Iterable[int], reason: str = "") -> int:
    """Archive the selected contacts (contacts.archive, one note each); returns how many."""
    chosen = changeable(session, user, ids)
    for contact in chosen:
        contacts.archive(session, user, contact, reason)
    session.flush()
    return len(chosen)


def restore(session: Session, user: Advisor, ids: Iterable[int]) -> int:
    """Bring the selected archived contacts back (admin; contacts.restore); returns how many."""
    chosen = changeable(session, user, ids, archived=True) if user.role == Role.ADMIN else []
    for contact in chosen:
        contacts.restore(session, user, contact)
    session.flush()
    return len(chosen)
