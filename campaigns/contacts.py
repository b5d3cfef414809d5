"""Contacts: who may see them, the list (its pages: contact_pages.py), how they are created and edited,
their timeline (owners: ownership.py).

Plain functions over a SQLAlchemy session; the web views and the JSON API only parse input
and call these. Every state change leaves a Note on the contact (who, when, why), so the card's
timeline is also the audit trail. Nothing is deleted: contacts are archived.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, exists, false, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from . import contact_fields, contact_pages, duplicates, search
from .contact_pages import COUNT_LIMIT, PER_PAGE, Page, cursor, cursor_keys
from .db import utcnow
from .models import Advisor, Click, Contact, Note, NoteKind, Role, Tag, contact_tags

# The advisor's own work on a contact. Mails, clicks and owner changes are written by the
# system and must not make an untouched contact look worked.
WORK_KINDS = (NoteKind.MANUAL, NoteKind.CALL)

LABELS = {
    "first_name": "Имя",
    "middle_name": "Отчество",
    "last_name": "Фамилия",
    "company": "Компания",
    "company_alias": "Второе название",
    "position": "Должность",
    "email": "Эл. почта",
    "phone": "Телефон",
    "tags": "Теги",
    "next_contact_on": "Следующий контакт",
    "consent_source": "Источник согласия",
    "consent_at": "Дата согласия",
}
_LENGTHS = {
    "first_name": 100,
    "middle_name": 100,
    "last_name": 100,
    "company": 300,
    "company_alias": 300,
    "position": 200,
    "consent_source": 300,
}
FIELDS = tuple(LABELS)


class ContactError(ValueError):
    """Input a person must fix; .errors maps a field name to a Russian message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {v}" for k, v in errors.items()))
        self.errors = errors


class DuplicateContact(Exception):
    """Possible duplicates exist. .blocking: an e-mail match, which nobody may override
    (the same mailbox would get every offer twice, from two advisors)."""

    def __init__(self, matches: list[duplicates.Match]):
        super().__init__("Похожий контакт уже есть: " + "; ".join(f"{m.detail} ({m.owner_name})" for m in matches))
        self.matches = matches
        self.blocking = any(m.reason == "email" for m in matches)


class NotAllowed(Exception):
    """The user's role does not permit this action (views answer 403)."""


# --- visibility -------------------------------------------------------------------------


def visible_contacts(session: Session, user: Advisor, *, include_archived: bool = False) -> Select:
    """SELECT of the contacts `user` may see: an advisor their own live ones, the others all."""
    query = select(Contact)
    if user.role == Role.ADVISOR:
        return query.where(owned_by(user), Contact.archived_at.is_(None))
    if not include_archived:
        query = query.where(Contact.archived_at.is_(None))
    return query


def get_visible_contact(session: Session, user: Advisor, contact_id: int) -> Contact | None:
    """The contact if `user` may see it, else None — a stranger's contact is indistinguishable
    from a missing one."""
    query = visible_contacts(session, user, include_archived=True).where(Contact.id == contact_id)
    return session.scalar(query.options(selectinload(Contact.tags), selectinload(Contact.owner)))


def owned_by(user: Advisor):
    """SQL over Contact: an advisor's own contacts, and the house advisor's for whoever gets his
    hot contacts (Advisor.watches_house: they work them)."""
    if not user.watches_house:
        return Contact.owner_id == user.id
    return or_(
        Contact.owner_id == user.id,
        Contact.owner_id.in_(select(Advisor.id).where(Advisor.is_house.is_(True), Advisor.id != user.id)),
    )


def can_edit(user: Advisor, contact: Contact) -> bool:
    if user.role == Role.ADMIN:
        return True
    if contact.archived_at is not None:
        return False
    if user.watches_house and contact.owner is not None and contact.owner.is_house:
        return True  # admin named them to work the house advisor's contacts, whatever their role
    return user.role == Role.ADVISOR and contact.owner_id == user.id


def _require_edit(user: Advisor, contact: Contact) -> None:
    if not can_edit(user, contact):
        raise NotAllowed("Изменять контакт может только его владелец или администратор.")


# --- the list ---------------------------------------------------------------------------


def search_condition(text: str):
    """Names, company and its alias (either spelling), position, e-mail, phone: search.py."""
    return search.condition(Contact.search_key, text)


def not_worked_condition(days: int, now: datetime):
    """No note of the advisor's own work for `days` days (a NOT EXISTS, not a stored flag)."""
    since = now - timedelta(days=days)
    return ~exists().where(Note.contact_id == Contact.id, Note.kind.in_(WORK_KINDS), Note.created_at >= since)


def contact_list(
    session: Session,
    user: Advisor,
    *,
    search: str = "",
    tag_id: int | None = None,
    not_worked_days: int | None = None,
    call_today: bool = False,
    owner_id: int | None = None,
    archived: bool = False,
    today: date | None = None,
    now: datetime | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """The list page: oldest update first (the morning routine), filtered, one page.

    ``after``/``before`` (cursor()) continue from a row of the page the reader saw, through the
    (updated_at, id) index, so page 10,000 costs what page 2 does; ``page`` alone (old links,
    API clients, today's calls) skips rows with OFFSET, up to contact_pages.LAST_NUMBERED_PAGE
    (the web layer refuses a deeper number).
    `archived`: the archive instead (not for advisors, who never see archived contacts)."""
    now = now or utcnow()
    today = today or now.date()
    archived = archived and user.role != Role.ADVISOR
    query = visible_contacts(session, user, include_archived=archived)
    if archived:
        query = query.where(Contact.archived_at.is_not(None))
    if search.strip():
        query = query.where(search_condition(search))
    if tag_id:
        query = query.where(exists().where(contact_tags.c.contact_id == Contact.id, contact_tags.c.tag_id == tag_id))
    if not_worked_days:
        query = query.where(not_worked_condition(not_worked_days, now))
    if call_today:
        query = query.where(Contact.next_contact_on <= today)
    if owner_id and user.role != Role.ADVISOR:
        query = query.where(Contact.owner_id == owner_id)
    counted = session.scalar(
        select(func.count()).select_from(query.with_only_columns(Contact.id).limit(COUNT_LIMIT + 1).subquery())
    )
    total = min(counted or 0, COUNT_LIMIT)
    page = max(1, page)
    listed = query.options(selectinload(Contact.tags), selectinload(Contact.owner)).limit(per_page + 1)
    after_key, before_key = cursor_keys(after, before, call_today=call_today)
    position = tuple_(Contact.updated_at, Contact.id)
    if before_key and not after_key:
        rows = session.scalars(
            listed.where(position < tuple_(*before_key)).order_by(Contact.updated_at.desc(), Contact.id.desc())
        ).all()
        items, has_prev, has_next = list(reversed(rows[:per_page])), len(rows) > per_page, True
    else:
        if after_key:
            listed = listed.where(position > tuple_(*after_key))
        elif page > 1 and not call_today:
            # By number: the skipped rows' keys only (an index-only scan of (updated_at, id), where an
            # OFFSET over whole rows read each one from the table), then on from the page's first row.
            first = session.execute(
                query.with_only_columns(*position.clauses)
                .order_by(Contact.updated_at, Contact.id)
                .offset((page - 1) * per_page)
                .limit(1)
            ).first()
            listed = listed.where(position >= tuple_(*first)) if first else listed.where(false())
        else:
            listed = listed.offset((page - 1) * per_page)
        rows = session.scalars(
            listed.order_by(
                *(
                    (Contact.next_contact_on, Contact.next_contact_time.is_(None), Contact.next_contact_time)
                    if call_today
                    else ()
                ),
                Contact.updated_at,
                Contact.id,
            )
        ).all()
        items, has_prev, has_next = list(rows[:per_page]), page > 1 or after_key is not None, len(rows) > per_page
    keyset = not call_today
    numbers_end = not keyset and has_next and page >= contact_pages.LAST_NUMBERED_PAGE
    return Page(
        items=items,
        total=total,
        page=page,
        per_page=per_page,
        total_more=(counted or 0) > COUNT_LIMIT,
        has_next=has_next and bool(items) and not numbers_end,
        has_prev=has_prev,
        numbers_end=numbers_end,
        next_after=cursor(items[-1]) if keyset and has_next and items else None,
        prev_before=cursor(items[0]) if keyset and has_prev and items else None,
    )


# --- create and edit --------------------------------------------------------------------


def parse_date(value, field_name: str, errors: dict[str, str]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors[field_name] = "Дата в виде ГГГГ-ММ-ДД, например 2026-03-01"
        return None


def _consent_moment(value: date | None) -> datetime | None:
    # Only the day is known; noon UTC is that same day in every time zone of Russia.
    return None if value is None else datetime.combine(value, time(12), tzinfo=UTC)


def _resolve_tags(session: Session, raw, errors: dict[str, str]) -> list[Tag]:
    ids = [v for v in raw if isinstance(v, int) or (isinstance(v, str) and v.isdigit())]
    names = [v.strip() for v in raw if isinstance(v, str) and not v.isdigit() and v.strip()]
    tags: list[Tag] = []
    if ids:
        tags += session.scalars(select(Tag).where(Tag.id.in_([int(i) for i in ids]))).all()
    if names:
        found = list(session.scalars(select(Tag).where(Tag.name.in_(names))).all())
        known = {t.name.lower() for t in found}
        by_lower = {t.name.lower(): t for t in session.scalars(select(Tag)).all()} if len(found) < len(names) else {}
        for name in names:
            if name.lower() not in known:
                if name.lower() in by_lower:
                    found.append(by_lower[name.lower()])
                else:
                    errors["tags"] = f"Нет такого тега: «{name}»"
        tags += found
    if len(tags) < len(set(ids)):
        errors.setdefault("tags", "Выбран несуществующий тег")
    return sorted({t.id: t for t in tags}.values(), key=lambda t: t.name)


def clean_fields(session: Session, data: dict) -> dict:
    """Validate and normalise the given fields (any subset of FIELDS); raise ContactError."""
    errors: dict[str, str] = {}
    clean: dict = {}
    for name, limit in _LENGTHS.items():
        if name in data:
            value = " ".join(str(data[name] or "").split())
            if len(value) > limit:
                errors[name] = f"Не длиннее {limit} символов"
            clean[name] = value
    if "company" in clean and "(" in clean["company"] and not clean.get("company_alias", data.get("company_alias")):
        clean["company"], clean["company_alias"] = contact_fields.split_company(clean["company"])
    for name, normalise in (("email", contact_fields.normalize_email), ("phone", contact_fields.normalize_phone)):
        if name in data:
            try:
                clean[name] = normalise(str(data[name] or "").strip())
            except contact_fields.FieldError as exc:
                errors[name] = str(exc)
    if "next_contact_on" in data:
        clean["next_contact_on"] = parse_date(data["next_contact_on"], "next_contact_on", errors)
    if "consent_at" in data:
        clean["consent_at"] = _consent_moment(parse_date(data["consent_at"], "consent_at", errors))
    if "tags" in data:
        clean["tags"] = _resolve_tags(session, data["tags"] or [], errors)
    if errors:
        raise ContactError(errors)
    return clean


def _check_duplicates(session: Session, values: dict, *, exclude_id: int | None, confirmed: bool) -> list[duplicates.Match]:
    matches = duplicates.find_matches(
        session,
        email=values.get("email"),
        phone=values.get("phone"),
        company=values.get("company") or None,
        alias=values.get("company_alias") or None,
        exclude_id=exclude_id,
    )
    if matches and (not confirmed or any(m.reason == "email" for m in matches)):
        raise DuplicateContact(matches)
    return matches


def _matches_note(matches: list[duplicates.Match]) -> str:
    return "; ".join(f"№{m.contact_id} ({m.detail}, владелец {m.owner_name})" for m in matches)


def create_contact(
    session: Session,
    user: Advisor,
    data: dict,
    *,
    owner: Advisor | None = None,
    confirm_different: bool = False,
) -> Contact:
    """A new contact owned by the advisor who creates it (an admin names the owner).

    Raises ContactError for bad fields, DuplicateContact when a similar contact exists and the
    user has not confirmed it is a different one (an e-mail match can never be confirmed)."""
    if user.role == Role.ADVISOR:
        if owner is not None and owner.id != user.id:
            raise NotAllowed("Советник создаёт контакты только на себя.")
        owner = user
    elif user.role != Role.ADMIN:
        raise NotAllowed("Создавать контакты могут советники и администратор.")
    clean = clean_fields(session, {k: data.get(k) for k in FIELDS if k in data})
    errors = {}
    if owner is None:
        errors["owner"] = "Выберите владельца"
    elif not owner.active:
        errors["owner"] = "Владелец деактивирован"
    if not any(clean.get(k) for k in ("first_name", "last_name", "company", "email", "phone")):
        errors["first_name"] = "Укажите хотя бы имя, фамилию, компанию, почту или телефон"
    if errors:
        raise ContactError(errors)
    duplicates.lock_contact_writes(session)  # the same lock as imports: no e-mail created twice
    matches = _check_duplicates(session, clean, exclude_id=None, confirmed=confirm_different)
    tags = clean.pop("tags", [])
    if clean.get("consent_source") and not clean.get("consent_at"):
        clean["consent_at"] = utcnow()
    contact = Contact(owner=owner, **{k: v for k, v in clean.items() if v is not None or k in ("email", "phone")})
    contact.tags = tags
    session.add(contact)
    session.flush()
    _stop_erased(session, contact.email)
    body = f"Контакт создан ({user.name})"
    if matches:
        body += f". Похожие контакты: {_matches_note(matches)} — {user.name} подтвердил(а), что это другой контакт"
    _note(session, contact, NoteKind.SYSTEM, user, body)
    return contact


def _stop_erased(session: Session, email: str | None) -> None:
    """The address enters the contacts: an erased person's goes back on the stop list (consent.stop_erased)."""
    from . import consent  # consent imports this module

    consent.stop_erased(session, [email])


def _describe(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(t.name for t in value) or "—"
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def update_contact(
    session: Session, user: Advisor, contact: Contact, data: dict, *, confirm_different: bool = False
) -> list[str]:
    """Change the given fields; returns the Russian labels of what changed (a note lists them).

    The owner is not a field here: ownership moves only through transfer_contacts()."""
    _require_edit(user, contact)
    if "owner" in data or "owner_id" in data:
        raise NotAllowed("Владельца меняет только администратор передачей контакта.")
    clean = clean_fields(session, {k: data[k] for k in FIELDS if k in data})
    changes = []
    for name, value in clean.items():
        old = getattr(contact, name)
        if name == "tags":
            if {t.id for t in old} != {t.id for t in value}:
                changes.append((name, old[:], value))
        elif name == "consent_at" and old and value and old.date() == value.date():
            continue  # the form knows only the day; the stored moment of that day stays
        elif (old or None) != (value or None):
            changes.append((name, old, value))
    if not changes:
        return []
    identity = {"email", "phone", "company", "company_alias"}
    if identity & {name for name, _, _ in changes}:
        duplicates.lock_contact_writes(session)  # as create_contact: no two contacts made one address at once
        merged = {k: clean.get(k, getattr(contact, k)) for k in identity}
        _check_duplicates(session, merged, exclude_id=contact.id, confirmed=confirm_different)
    for name, _old, value in changes:
        if name in ("email", "phone") or name in ("next_contact_on", "consent_at"):
            setattr(contact, name, value)
        elif name == "tags":
            contact.tags = value
        else:
            setattr(contact, name, value or "")
    contact.updated_at = utcnow()
    if any(name == "email" for name, _, _ in changes):
        _stop_erased(session, contact.email)
    body = "Изменено: " + "; ".join(f"{LABELS[n]}: {_describe(o)} → {_describe(v)}" for n, o, v in changes)
    _note(session, contact, NoteKind.SYSTEM, user, body)
    return [LABELS[n] for n, _, _ in changes]


# --- the timeline -----------------------------------------------------------------------


def _note(session: Session, contact: Contact, kind: NoteKind, author: Advisor | None, body: str, **kw) -> Note:
    note = Note(contact_id=contact.id, kind=kind, author_id=author.id if author else None, body=body, **kw)
    session.add(note)
    session.flush()
    return note


def add_note(session: Session, user: Advisor, contact: Contact, body: str | None) -> Note:
    _require_edit(user, contact)
    body = (body or "").strip()
    if not body:
        raise ContactError({"body": "Напишите текст примечания"})
    if len(body) > 20000:
        raise ContactError({"body": "Слишком длинное примечание (не больше 20 000 символов)"})
    contact.updated_at = utcnow()
    return _note(session, contact, NoteKind.MANUAL, user, body)


def timeline(session: Session, contact: Contact, limit: int = 500) -> list[Note]:
    return list(
        session.scalars(
            select(Note)
            .where(Note.contact_id == contact.id)
            .options(selectinload(Note.author))
            .order_by(Note.created_at.desc(), Note.id.desc())
            .limit(limit)
        )
    )


def get_mail_note(session: Session, contact: Contact, note_id: int) -> Note | None:
    return session.scalar(select(Note).where(Note.id == note_id, Note.contact_id == contact.id, Note.raw_message.is_not(None)))


def delivery_clicks(session: Session, delivery_id: int | None) -> list[Click]:
    if delivery_id is None:
        return []
    return list(
        session.scalars(
            select(Click).where(Click.delivery_id == delivery_id).options(selectinload(Click.link)).order_by(Click.clicked_at)
        )
    )


# --- archive ----------------------------------------------------------------


def archive(session: Session, user: Advisor, contact: Contact, reason: str = "") -> None:
    _require_edit(user, contact)
    if contact.archived_at is not None:
        return
    contact.archived_at = utcnow()
    text = f"Контакт перенесён в архив ({user.name})" + (f": {reason.strip()}" if reason.strip() else "")
    _note(session, contact, NoteKind.SYSTEM, user, text)


def restore(session: Session, user: Advisor, contact: Contact) -> None:
    if user.role != Role.ADMIN:
        raise NotAllowed("Вернуть контакт из архива может администратор.")
    if contact.erased_at is not None:
        raise NotAllowed("Данные этого человека удалены (152-ФЗ): контакт остаётся в архиве.")
    if contact.archived_at is None:
        return
    contact.archived_at = None
    _note(session, contact, NoteKind.SYSTEM, user, f"Контакт возвращён из архива ({user.name})")
