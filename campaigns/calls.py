"""Logging a call: the one rule for the contact card, the hot list and the JSON API.

Seed 001: every call records its result, whether there is interest (yes or no), an optional
objection, and plans the next contact. A logged call is the advisor's work on the contact, so
it moves the contact in the morning list (`updated_at`) and takes it off the hot list until
it clicks again (`hot_handled_at`), whichever page it was logged from.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from .contacts import ContactError, NotAllowed, can_edit, parse_date
from .db import utcnow
from .models import Advisor, Contact, Note, NoteKind

RESULT_MAX = 2000
OBJECTION_MAX = 500

# What a form, a JSON body or a CSV may say for «interest»; anything else is no answer.
_INTEREST_WORDS = {"yes": True, "да": True, "true": True, "1": True,
                   "no": False, "нет": False, "false": False, "0": False}
INTEREST_LABELS = {True: "интерес есть", False: "интереса нет"}


def parse_interest(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _INTEREST_WORDS.get(value.strip().lower())
    return None


def log_call(
    session: Session,
    user: Advisor,
    contact: Contact,
    *,
    result: str,
    interest,
    next_contact_on,
    objection: str = "",
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
    if errors:
        raise ContactError(errors)
    contact.next_contact_on = next_on
    contact.updated_at = now
    contact.hot_handled_at = now
    body = f"Звонок: {result} ({INTEREST_LABELS[interest]}). Следующий контакт — {next_on:%d.%m.%Y}."
    note = Note(contact_id=contact.id, kind=NoteKind.CALL, author_id=user.id, body=body, result=result,
                interest=interest, objection=objection or None, next_contact_on=next_on, created_at=now)
    session.add(note)
    session.flush()
    return note
