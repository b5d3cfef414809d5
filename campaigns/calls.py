"""Logging a call: the one rule for the contact card, the hot list and the JSON API.

Every call records its result, whether there is interest (yes or no), an optional
objection, and plans the next contact: a date, an optional time and a topic («Позвонить
сегодня» and the morning digest list them by time). A logged call is the advisor's work on the contact, so
it moves the contact in the morning list (`updated_at`) and takes it off the hot list until
it clicks again (`hot_handled_at`), whichever page it was logged from.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from .contacts import ContactError, NotAllowed, can_edit, parse_date
from .db import utcnow
from .models import Advisor, Contact, Note, NoteKind

RESULT_MAX = 2000
TOPIC_MAX = 300
PLANNED_CALLS_MAX = 50  # in the digest; the full list is «Позвонить сегодня»
OBJECTION_MAX = 500

# What a form, a JSON body or a CSV may say for «interest»; anything else is no answer.
_INTEREST_WORDS = {"yes": True, "да": True, "true": True, "1": True, "no": False, "нет": False, "false": False, "0": False}
INTEREST_LABELS = {True: "интерес есть", False: "интереса нет"}


def parse_interest(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _INTEREST_WORDS.get(value.strip().lower())
    return None


def parse_time(value, errors: dict[str, str], field_name: str = "next_contact_time") -> time | None:
    """An optional "11:30" (a time input's value); None when empty."""
    if isinstance(value, time):
        return value
    value = (value or "").strip() if isinstance(value, str) else value
    if not value:
        return None
    try:
        hours, minutes = (int(part) for part in str(value).split(":")[:2])
        return time(hours, minutes)
    except (TypeError, ValueError):
        errors[field_name] = "Время в виде 11:30 или пусто"
        return None


def planned_text(on: date, at: time | None = None, topic: str = "") -> str:
    """«12.03.2027 в 11:30: обсудить каталог» — how a planned call reads in notes and lists."""
    return f"{on:%d.%m.%Y}" + (f" в {at:%H:%M}" if at else "") + (f": {topic}" if topic else "")


def log_call(
    session: Session,
    user: Advisor,
    contact: Contact,
    *,
    result: str | None,
    interest,
    next_contact_on,
    objection: str | None = "",
    next_contact_time=None,
    topic: str | None = "",
    today: date | None = None,
    now: datetime | None = None,
) -> Note:
    """Record a call on `contact` by `user`; raise ContactError (field → Russian message) for
    input to fix, NotAllowed when `user` may not edit the contact."""
    if not can_edit(user, contact):
        raise NotAllowed("Записать звонок может только владелец контакта или администратор.")
    now = now or utcnow()
    today = today or now.date()
    errors: dict[str, str] = {}
    result = (result or "").strip()
    objection = (objection or "").strip()
    if not result:
        errors["result"] = "Опишите результат звонка"
    elif len(result) > RESULT_MAX:
        errors["result"] = f"Не длиннее {RESULT_MAX} символов"
    if len(objection) > OBJECTION_MAX:
        errors["objection"] = f"Не длиннее {OBJECTION_MAX} символов"
    interest = parse_interest(interest)
    if interest is None:
        errors["interest"] = "Отметьте, есть ли интерес"
    next_on = parse_date(next_contact_on, "next_contact_on", errors)
    if next_on is None:
        errors.setdefault("next_contact_on", "Назначьте дату следующего контакта")
    elif next_on < today:
        errors["next_contact_on"] = "Дата следующего контакта не может быть в прошлом"
    at = parse_time(next_contact_time, errors)
    topic = " ".join((topic or "").split())
    if len(topic) > TOPIC_MAX:
        errors["topic"] = f"Не длиннее {TOPIC_MAX} символов"
    if errors:
        raise ContactError(errors)
    contact.next_contact_on = next_on
    contact.next_contact_time = at
    contact.next_contact_topic = topic
    contact.updated_at = now
    contact.hot_handled_at = now
    assert next_on is not None  # checked above
    body = f"Звонок: {result} ({INTEREST_LABELS[interest]}). Следующий контакт — {planned_text(next_on, at, topic)}."
    note = Note(
        contact_id=contact.id,
        kind=NoteKind.CALL,
        author_id=user.id,
        body=body,
        result=result,
        interest=interest,
        objection=objection or None,
        next_contact_on=next_on,
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def planned_calls(session: Session, user: Advisor, today: date) -> list[Contact]:
    """The calls `user` planned for today (and missed before), earliest first: a set time before none."""
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.owner_id == user.id, Contact.archived_at.is_(None), Contact.next_contact_on <= today)
            .order_by(Contact.next_contact_on, Contact.next_contact_time.is_(None), Contact.next_contact_time, Contact.id)
            .limit(PLANNED_CALLS_MAX)
        )
    )
