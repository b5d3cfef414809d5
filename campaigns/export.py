"""Contacts out as CSV for Excel, in the columns the import reads back."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

from sqlalchemy import DateTime, func, literal_column, select, type_coerce
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


_FORMULA_START = "=+-@\t\r"


def _safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel (CSV injection): quote it.
    return "'" + value if value and value[0] in _FORMULA_START else value


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


def _all_tag_names():
    """PostgreSQL, every contact: (contact_id, tags) grouped along contact_tags' primary key, for a
    merge join with contacts in id order — 1.9 s for a million contacts where a subquery per
    contact took 5.6 s, and still streaming (bench/pages_bench.py)."""
    return (
        select(
            contact_tags.c.contact_id,
            func.string_agg(Tag.name, aggregate_order_by(literal_column("', '"), Tag.name)).label("tags"),
        )
        .join(Tag, Tag.id == contact_tags.c.tag_id)
        .group_by(contact_tags.c.contact_id)
        .subquery()
    )


def export_rows(session, user: Advisor, ids: list[int] | None = None) -> Iterator[list[str]]:
    """The header and one row per contact the user may see (an advisor: their own); only `ids` when given.

    One statement, read in batches from a server-side cursor as the response is written: the first
    row leaves at once and memory stays flat however many contacts there are (bench/pages_bench.py).
    Moments come as the driver reads them: no time-zone conversion per row, only the date is shown."""
    dialect = session.bind.dialect.name
    everyone = user.role != Role.ADVISOR and ids is None and dialect == "postgresql"
    grouped = _all_tag_names() if everyone else None
    tags = grouped.c.tags if grouped is not None else _tag_names(dialect)
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
            tags.label("tags"),
            Advisor.name.label("owner"),
            Contact.consent_source,
            type_coerce(Contact.consent_at, DateTime),
            type_coerce(Contact.unsubscribed_at, DateTime),
            Contact.next_contact_on,
        )
        .join(Advisor, Advisor.id == Contact.owner_id)
        .where(Contact.archived_at.is_(None))
        .order_by(Contact.id)
    )
    if grouped is not None:
        query = query.outerjoin(grouped, grouped.c.contact_id == Contact.id)
    if user.role == Role.ADVISOR:
        query = query.where(Contact.owner_id == user.id)
    if ids is not None:
        query = query.where(Contact.id.in_(ids))
    yield [label for _name, label in EXPORT_COLUMNS]
    # Core, not the ORM: plain rows, no entity machinery per row.
    for row in session.connection().execute(query.execution_options(yield_per=5000)):
        (last, first, middle, company, alias, position, email, phone, tag_names, owner, source, consent, gone, next_on) = row
        # In EXPORT_COLUMNS' order.
        yield [
            _safe(last or ""),
            _safe(first or ""),
            _safe(middle or ""),
            _safe(company_label(company, alias)),
            _safe(position or ""),
            _safe(email or ""),
            _safe(phone or ""),
            _safe(tag_names or ""),
            _safe(owner or ""),
            _safe(source or ""),
            _export_date(consent),
            _export_date(gone),
            _export_date(next_on),
        ]


def _export_date(value) -> str:
    """dd.mm.yyyy of a date or a moment (its UTC date), as strftime would write it, ten times faster."""
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}" if value else ""


def export_csv(session, user: Advisor, ids: list[int] | None = None) -> Iterator[str]:
    """CSV for Excel: UTF-8 with a BOM, «;» between columns, CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    yield "\ufeff"
    rows = export_rows(session, user, ids)
    writer.writerow(next(rows))
    yield buffer.getvalue()  # the header at once
    while batch := list(itertools.islice(rows, 1000)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue()
