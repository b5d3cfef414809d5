"""Contacts out as CSV for Excel, in the columns the import reads back."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

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


_FORMULA_START = "=+-@\t\r"
# Rows per chunk from the driver and per chunk of the response (≈ 0.5 MB of CSV).
STREAM_ROWS, CHUNK_ROWS = 5000, 2000
_SEPARATORS = len(EXPORT_COLUMNS) - 1  # «;» in a line


def _safe(value: str | None) -> str:
    # A cell starting with = + - @ is a formula to Excel (CSV injection): quote it.
    return "'" + value if value and value[0] in _FORMULA_START else value or ""


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
    merge join with contacts in id order, still streaming; at a million contacts it was 3× faster
    than a subquery per contact (bench/pages_bench.py times the whole export)."""
    return (
        select(
            contact_tags.c.contact_id,
            func.string_agg(Tag.name, aggregate_order_by(literal_column("', '"), Tag.name)).label("tags"),
        )
        .join(Tag, Tag.id == contact_tags.c.tag_id)
        .group_by(contact_tags.c.contact_id)
        .subquery()
    )


def _day(column, dialect: str):
    """SQL: dd.mm.yyyy of a date or a moment (its UTC date, as stored), NULL when there is none.

    Written by the database: a million timestamps turned into Python datetimes only to be printed
    again cost more than the rest of a row."""
    if dialect == "postgresql":
        return func.to_char(column, "DD.MM.YYYY")
    return func.strftime("%d.%m.%Y", column)


def _statement(dialect: str, user: Advisor, ids: list[int] | None):
    """The contacts the user may see (an advisor: their own), only `ids` when given, in id order."""
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
            _day(Contact.consent_at, dialect).label("consent_at"),
            _day(Contact.unsubscribed_at, dialect).label("unsubscribed_at"),
            _day(Contact.next_contact_on, dialect).label("next_contact_on"),
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
    return query


def _fetched(connection, statement) -> Iterator[tuple]:
    """The statement's rows as plain tuples, streamed.

    With psycopg the rows come as the server writes them (libpq's chunked mode), so PostgreSQL
    computes the next rows while these are written out; a server-side cursor asked for each batch
    in turn and waited (bench/pages_bench.py). The driver is called directly: the statement is
    still announced to the engine's listeners like any other."""
    if connection.dialect.driver != "psycopg":
        # Core, not the ORM: plain rows, no entity machinery per row.
        yield from connection.execute(statement.execution_options(yield_per=STREAM_ROWS))
        return
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    sql, params = compiled.string, compiled.params
    with connection.connection.driver_connection.cursor() as cursor:
        connection.dispatch.before_cursor_execute(connection, cursor, sql, params, None, False)
        rows = cursor.stream(sql, params, size=STREAM_ROWS)
        first = next(rows, None)
        connection.dispatch.after_cursor_execute(connection, cursor, sql, params, None, False)
        if first is not None:
            yield first
            yield from rows


def _line(row) -> tuple:
    """One contact in EXPORT_COLUMNS' order."""
    (last, first, middle, company, alias, position, email, phone, tag_names, owner, source, consent, gone, next_on) = row
    return (
        _safe(last),
        _safe(first),
        _safe(middle),
        _safe(company_label(company, alias)),
        _safe(position),
        _safe(email),
        _safe(phone),
        _safe(tag_names),
        _safe(owner),
        _safe(source),
        consent or "",
        gone or "",
        next_on or "",
    )


def export_csv(session, user: Advisor, ids: list[int] | None = None) -> Iterator[str]:
    """CSV for Excel: UTF-8 with a BOM, «;» between columns, CRLF lines; the header, then one row
    per contact the user may see (an advisor: their own), only `ids` when given.

    One statement, its rows written out as they arrive: the first row leaves at once and memory
    stays flat however many contacts there are (bench/pages_bench.py)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    yield "\ufeff"
    writer.writerow([label for _name, label in EXPORT_COLUMNS])
    yield buffer.getvalue()  # the header at once
    connection = session.connection()
    rows = _fetched(connection, _statement(connection.dialect.name, user, ids))
    while batch := [_line(row) for row in itertools.islice(rows, CHUNK_ROWS)]:
        yield _written(batch, writer, buffer)


def _written(batch: list[tuple], writer, buffer: io.StringIO) -> str:
    """The rows as `writer` writes them. Cells are joined directly when none holds what the writer
    would quote («;», «"», CR, LF: counted over the whole text, as good as always the case), three
    times cheaper than the writer's character-by-character pass; otherwise the writer writes them."""
    text = "\r\n".join(map(";".join, batch)) + "\r\n"
    if '"' not in text and text.count(";") == _SEPARATORS * len(batch) and text.count("\r") == text.count("\n") == len(batch):
        return text
    buffer.seek(0)
    buffer.truncate()
    writer.writerows(batch)
    return buffer.getvalue()
