"""Contacts out as CSV for Excel, in the columns the import reads back."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from .duplicates import company_label
from .models import Advisor, Contact, Role, Tag, contact_tags

# Our columns in export order; the import accepts these and the aliases in import_read.HEADERS.
EXPORT_COLUMNS = [
    ("last_name", "Фамилия"),
    ("first_name", "Имя"),
    ("middle_name", "Отчество"),
    ("company", "Компания"),
    ("position", "Должность"),
    ("email", "E-mail рабочий"),
    ("phone", "Телефон рабочий"),
    ("tags", "Теги"),
    ("owner", "Ответственный"),
    ("consent_source", "Источник согласия"),
    ("consent_at", "Дата согласия"),
    ("unsubscribed_at", "Отписан"),
    ("next_contact_on", "Следующий контакт"),
]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel (CSV injection): quote it.
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_rows(session, user: Advisor, ids: list[int] | None = None) -> Iterator[list[str]]:
    """The header and one row per contact the user may see (an advisor: their own); only `ids` when given."""
    query = (
        select(Contact, Advisor.name)
        .join(Advisor, Advisor.id == Contact.owner_id)
        .where(Contact.archived_at.is_(None))
        .order_by(Contact.id)
    )
    tag_query = select(contact_tags.c.contact_id, Tag.name).join(Tag, Tag.id == contact_tags.c.tag_id)
    if user.role == Role.ADVISOR:
        query = query.where(Contact.owner_id == user.id)
        tag_query = tag_query.join(Contact, Contact.id == contact_tags.c.contact_id).where(Contact.owner_id == user.id)
    if ids is not None:
        query = query.where(Contact.id.in_(ids))
        tag_query = tag_query.where(contact_tags.c.contact_id.in_(ids))
    tags: dict[int, list[str]] = {}
    for contact_id, name in session.execute(tag_query.order_by(Tag.name)):
        tags.setdefault(contact_id, []).append(name)
    yield [label for _name, label in EXPORT_COLUMNS]
    for contact, owner_name in session.execute(query.execution_options(yield_per=2000)):
        values = {
            "last_name": contact.last_name,
            "first_name": contact.first_name,
            "middle_name": contact.middle_name,
            "company": company_label(contact.company, contact.company_alias),
            "position": contact.position,
            "email": contact.email or "",
            "phone": contact.phone or "",
            "tags": ", ".join(tags.get(contact.id, [])),
            "owner": owner_name,
            "consent_source": contact.consent_source,
            "consent_at": _export_date(contact.consent_at),
            "unsubscribed_at": _export_date(contact.unsubscribed_at),
            "next_contact_on": _export_date(contact.next_contact_on),
        }
        yield [_safe(str(values[name] or "")) for name, _label in EXPORT_COLUMNS]


def _export_date(value) -> str:
    if value is None:
        return ""
    return (value.date() if isinstance(value, datetime) else value).strftime("%d.%m.%Y")


def export_csv(session, user: Advisor, ids: list[int] | None = None) -> Iterator[str]:
    """CSV for Excel: UTF-8 with a BOM, «;» between columns, CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    yield "\ufeff"
    for number, row in enumerate(export_rows(session, user, ids)):
        writer.writerow(row)
        if number % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
