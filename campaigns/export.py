"""Contacts out as CSV for Excel, in the columns the import reads back."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

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


def _tag_names(dialect: str):
    """SQL over Contact: the contact's tag names, alphabetical, comma-separated (one index probe per contact)."""
    if dialect == "postgresql":
        return (
            select(func.string_agg(Tag.name, aggregate_order_by(literal_column("', '"), Tag.name)))
            .join(contact_tags, contact_tags.c.tag_id == Tag.id)
            .where(contact_tags.c.contact_id == Contact.id)
            .scalar_subquery()
        )
    # SQLite (before 3.44) orders an aggregate only through an ordered subquery in its FROM.
    return literal_column(
        "(SELECT group_concat(name, ', ') FROM (SELECT tags.name AS name FROM tags"
        " JOIN contact_tags ON contact_tags.tag_id = tags.id"
        " WHERE contact_tags.contact_id = contacts.id ORDER BY tags.name))"
    )


def export_rows(session, user: Advisor, ids: list[int] | None = None) -> Iterator[list[str]]:
    """The header and one row per contact the user may see (an advisor: their own); only `ids` when given.

    One statement, read in batches from a server-side cursor as the response is written: the first
    row leaves at once and memory stays flat however many contacts there are (bench/pages_bench.py)."""
    query = (
        select(
            Contact.last_name,
            Contact.first_name,
            Contact.middle_name,
            Contact.company,
            Contact.company_alias,
            Contact.position,
            Contact.email,
            Contact.phone,
            _tag_names(session.bind.dialect.name).label("tags"),
            Advisor.name.label("owner"),
            Contact.consent_source,
            Contact.consent_at,
            Contact.unsubscribed_at,
            Contact.next_contact_on,
        )
        .join(Advisor, Advisor.id == Contact.owner_id)
        .where(Contact.archived_at.is_(None))
        .order_by(Contact.id)
    )
    if user.role == Role.ADVISOR:
        query = query.where(Contact.owner_id == user.id)
    if ids is not None:
        query = query.where(Contact.id.in_(ids))
    yield [label for _name, label in EXPORT_COLUMNS]
    for row in session.execute(query.execution_options(yield_per=2000)):
        values = {
            "last_name": row.last_name,
            "first_name": row.first_name,
            "middle_name": row.middle_name,
            "company": company_label(row.company, row.company_alias),
            "position": row.position,
            "email": row.email or "",
            "phone": row.phone or "",
            "tags": row.tags or "",
            "owner": row.owner,
            "consent_source": row.consent_source,
            "consent_at": _export_date(row.consent_at),
            "unsubscribed_at": _export_date(row.unsubscribed_at),
            "next_contact_on": _export_date(row.next_contact_on),
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
