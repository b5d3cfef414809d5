"""Who owns a contact: the advisors who may, transfers by the admin and handovers by an advisor
(a note on each contact), an advisor's deactivation (their contacts go to an heir), the admin's
bulk selection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, Table, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from . import apikeys, signin
from .contacts import ContactError, NotAllowed, not_worked_condition
from .db import utcnow
from .models import Advisor, Click, Contact, Note, NoteKind, OwnerCount, Role, contact_tags


def assignable_owners(session: Session) -> list[Advisor]:
    """Who may own contacts: active advisors, the house advisor among them."""
    return list(
        session.scalars(
            select(Advisor).where(Advisor.active.is_(True), Advisor.role == Role.ADVISOR).order_by(Advisor.is_house, Advisor.name)
        )
    )


def transfer_contacts(
    session: Session, admin: Advisor, contact_ids: Iterable[int] | Select, new_owner: Advisor, reason: str
) -> int:
    """Move contacts to `new_owner`; each moved contact gets a note «Передан от X к Y: reason».

    `contact_ids` is a list of ids or a SELECT of contact ids (the bulk page passes its filter).
    Two set-based statements, so a thousand contacts move as fast as one."""
    if admin.role != Role.ADMIN:
        raise NotAllowed("Передавать контакты может только администратор.")
    return _move_contacts(session, admin, contact_ids, new_owner, reason)


def handover(session: Session, advisor: Advisor, contact_ids: Iterable[int], new_owner: Advisor, reason: str) -> int:
    """An advisor hands own live contacts (one or many) to a colleague or the house advisor, with
    a reason. Each contact's note says from whom, to whom and why; the new owner finds them in
    «Переданы мне» and the advisor in «Переданы мной» (handed_over). Returns how many moved."""
    if advisor.role != Role.ADVISOR:
        raise NotAllowed("Передать свои контакты может советник; администратор передаёт любые.")
    ids = {int(i) for i in contact_ids}
    if not ids:
        raise ContactError({"contacts": "Отметьте контакты, которые передаёте"})
    foreign = session.scalar(
        select(func.count(Contact.id)).where(
            Contact.id.in_(ids), or_(Contact.owner_id != advisor.id, Contact.archived_at.is_not(None))
        )
    )
    if foreign or session.scalar(select(func.count(Contact.id)).where(Contact.id.in_(ids))) != len(ids):
        raise NotAllowed("Передать можно только свои контакты (не из архива).")
    if new_owner.id == advisor.id:
        raise ContactError({"new_owner": "Выберите коллегу или дежурного советника"})
    return _move_contacts(session, advisor, list(ids), new_owner, reason)


@dataclass
class Handed:
    """One handover as «Переданы мне» / «Переданы мной» show it."""

    contact: Contact
    note: Note


def handed_over(
    session: Session, user: Advisor, *, to_me: bool, days: int = 30, now: datetime | None = None, limit: int = 200
) -> list[Handed]:
    """Handovers of the last `days` days: to `user` (the contacts they own now) or by `user` (their
    own notes of handing contacts away), newest first."""
    since = (now or utcnow()) - timedelta(days=days)
    query = (
        select(Contact, Note)
        .join(Note, Note.contact_id == Contact.id)
        .where(Note.kind == NoteKind.OWNER, Note.created_at >= since, Contact.archived_at.is_(None))
    )
    if to_me:
        # Every move writes an OWNER note: a recent one on a contact the user owns now moved it to them.
        query = query.where(Contact.owner_id == user.id, Note.author_id != user.id)
    else:
        query = query.where(Note.author_id == user.id, Contact.owner_id != user.id)
    rows = session.execute(query.order_by(Note.created_at.desc(), Note.id.desc()).limit(limit)).all()
    return [Handed(contact, note) for contact, note in rows]


def _move_contacts(
    session: Session, author: Advisor, contact_ids: Iterable[int] | Select, new_owner: Advisor, reason: str
) -> int:
    reason = " ".join((reason or "").split())
    errors = {}
    if not reason:
        errors["reason"] = "Укажите причину передачи"
    if not new_owner.active or new_owner.role != Role.ADVISOR:
        errors["new_owner"] = "Передать можно только действующему советнику"
    if errors:
        raise ContactError(errors)
    ids = contact_ids if isinstance(contact_ids, Select) else select(Contact.id).where(Contact.id.in_(list(contact_ids)))
    moving = select(Contact.id).where(Contact.id.in_(ids), Contact.owner_id != new_owner.id)
    now = utcnow()
    note_table: Table = Note.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
    body = literal("Передан от ") + Advisor.name + literal(f" к {new_owner.name}: {reason}")
    session.execute(
        note_table.insert().from_select(
            ["contact_id", "kind", "author_id", "body", "created_at"],
            select(
                Contact.id,
                literal(NoteKind.OWNER, note_table.c.kind.type),
                literal(author.id),
                body,
                literal(now, note_table.c.created_at.type),
            )
            .join(Advisor, Advisor.id == Contact.owner_id)
            .where(Contact.id.in_(moving))
            # Locks the moving contacts first (PostgreSQL; in id order, as flush_clicks does): a
            # click batch of theirs in flight is committed before the clicks move below.
            .order_by(Contact.id)
            .with_for_update(of=Contact),
        )
    )
    # The clicks carry their contact's owner (the hot list's index): they move in the same
    # transaction, before the contacts, while `moving` still names them.
    session.execute(
        update(Click)
        .where(Click.contact_id.in_(moving), Click.owner_id != new_owner.id)
        .values(owner_id=new_owner.id)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Contact)
        .where(Contact.id.in_(moving))
        .values(owner_id=new_owner.id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's CursorResult


def deactivate_advisor(session: Session, admin: Advisor, advisor: Advisor, heir: Advisor | None, reason: str = "") -> int:
    """Switch a user off; their contacts (archived ones too) go to `heir` with notes.
    Returns how many contacts moved."""
    if admin.role != Role.ADMIN:
        raise NotAllowed("Деактивировать пользователей может только администратор.")
    errors = {}
    if advisor.is_house:
        errors["advisor"] = "Дежурного советника нельзя деактивировать: на нём держатся ничьи контакты"
    elif advisor.id == admin.id:
        errors["advisor"] = "Нельзя деактивировать самого себя"
    owns = session.scalar(select(func.count(Contact.id)).where(Contact.owner_id == advisor.id)) or 0
    if owns and heir is None:
        errors["heir"] = "Выберите, кому перейдут контакты"
    elif heir is not None and heir.id == advisor.id:
        errors["heir"] = "Контакты должны перейти другому советнику"
    elif heir is not None and (not heir.active or heir.role != Role.ADVISOR):
        errors["heir"] = "Наследник должен быть действующим советником"
    if errors:
        raise ContactError(errors)
    moved = 0
    if owns:
        assert heir is not None  # checked above
        assert heir is not None  # checked above
        assert heir is not None  # checked above
        assert heir is not None  # checked above
        assert heir is not None  # checked above
        text = f"{advisor.name} деактивирован(а)" + (f" — {' '.join(reason.split())}" if reason.strip() else "")
        moved = transfer_contacts(session, admin, select(Contact.id).where(Contact.owner_id == advisor.id), heir, text)
    session.execute(update(Advisor).where(Advisor.id == advisor.id).values(active=False))
    signin.end_sessions(session, advisor.id)
    apikeys.revoke_all(session, advisor.id)  # a reactivated user makes new keys
    session.expire_all()
    return moved


def bulk_selection(
    *, owner_id: int | None = None, tag_id: int | None = None, not_worked_days: int | None = None, now: datetime | None = None
) -> Select:
    """SELECT of the live contacts the admin's bulk-transfer filter names (ids only)."""
    query = select(Contact.id).where(Contact.archived_at.is_(None))
    if owner_id:
        query = query.where(Contact.owner_id == owner_id)
    if tag_id:
        query = query.where(exists().where(contact_tags.c.contact_id == Contact.id, contact_tags.c.tag_id == tag_id))
    if not_worked_days:
        query = query.where(not_worked_condition(not_worked_days, now or utcnow()))
    return query


def count_selection(session: Session, ids: Select) -> int:
    return session.scalar(select(func.count()).select_from(ids.subquery())) or 0


def live_counts(session) -> dict[int, int]:
    """owner id → live (not archived) contacts: the rows triggers keep (models.OwnerCount), not a count."""
    return dict(session.execute(select(OwnerCount.owner_id, OwnerCount.live_contacts)).all())


def live_total(session, owner_id: int | None = None) -> int:
    """Live contacts of one owner, or of everybody."""
    query = select(func.coalesce(func.sum(OwnerCount.live_contacts), 0))
    if owner_id is not None:
        query = query.where(OwnerCount.owner_id == owner_id)
    return int(session.scalar(query) or 0)
