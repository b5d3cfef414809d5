"""Writing an import: check again and write the new rows, all in one transaction.

- All or nothing: if any row has an error, nothing is written — unless the user ticked
  «пропустить строки с ошибками»; then exactly the error rows are left out and listed.
- Every imported contact gets its consent source and time and a system note.

Speed: on PostgreSQL contacts, notes and tags go in with COPY (ids taken from the sequence
first), elsewhere with multi-row INSERTs in batches; no ORM objects. What 100,000 rows cost and
where: bench/README.md, §5.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, text

from . import consent, search
from .db import utcnow
from .duplicates import Match, lock_contact_writes, record_attempt
from .import_check import (
    DUPLICATE,
    ERROR,
    ImportOptions,
    Plan,
    Progress,
    as_date,
    as_moment,
    build_plan,
    collector_paused,
    no_progress,
)
from .models import Advisor, Contact, Note, NoteKind, contact_tags

BATCH = 2000  # rows per executemany: big enough to be fast, small enough to show progress


class ImportHasErrors(Exception):
    """commit_import() refused: some rows have errors and skipping them was not asked for."""

    def __init__(self, plan: Plan):
        super().__init__(f"В файле {plan.counts[ERROR]} строк с ошибками; ничего не записано.")
        self.plan = plan


@dataclass
class ImportResult:
    filename: str
    created: int
    duplicates: int
    errors: int  # rows left out because the user chose to skip error rows
    contact_ids: list[int] = field(default_factory=list, repr=False)


# ---------------------------------------------------------------- writing


def _contact_row(record: dict, filename: str, now: datetime) -> dict:
    v = record["row"].values
    return {
        "owner_id": record["owner_id"],
        "first_name": v["first_name"],
        "middle_name": v["middle_name"],
        "last_name": v["last_name"],
        "company": v["company"],
        "company_alias": v["company_alias"],
        "company_key": record["company_key"],
        "search_key": search.contact_key(
            v["first_name"],
            v["middle_name"],
            v["last_name"],
            v["company"],
            v["company_alias"],
            v["position"],
            v["email"],
            v["phone"],
        ),
        "position": v["position"],
        "email": v["email"],
        "phone": v["phone"],
        "next_contact_on": as_date(v["next_contact_on"]) if v["next_contact_on"] else None,
        "consent_source": (v["consent_source"] or f"импорт: {filename}")[:300],
        "consent_at": as_moment(v["consent_at"]) if v["consent_at"] else now,
        "unsubscribed_at": as_moment(v["unsubscribed_at"]) if v["unsubscribed_at"] else None,
        "created_at": now,
        "updated_at": now,
    }


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _note_row(contact_id: int, filename: str, number: int, record: dict, user_id: int, now: datetime) -> dict:
    """The import's note on a new contact, as a row for INSERT or COPY."""
    return {
        "contact_id": contact_id,
        "kind": NoteKind.SYSTEM,
        "author_id": user_id,
        "body": _note_body(filename, number, record),
        "created_at": now,
    }


def _note_body(filename: str, number: int, record: dict) -> str:
    return "\n".join([f"Импортирован из файла «{filename}» (строка {number}).", *record["row"].extra])


def commit_import(session, path: Path, filename: str, options: ImportOptions, progress: Progress = no_progress) -> ImportResult:
    """Check again and write the new rows, all in one transaction; commits or writes nothing."""
    try:
        # Before the checks read anything: a concurrent import (or a contact created by
        # hand) must not slip in between our duplicate check and our write.
        lock_contact_writes(session)
        plan = build_plan(session, path, filename, options, progress)
        counts = plan.counts
        if counts[ERROR] and not options.skip_errors:
            raise ImportHasErrors(plan)
        numbers = sorted(plan.records)
        progress("write", 0, len(numbers))
        write = _write_copy if _copy_connection(session) is not None else _write_batches
        with collector_paused():
            contact_ids = write(session, plan, numbers, filename, options.user_id, utcnow(), progress)
        consent.stop_erased(session, (plan.records[n]["row"].values["email"] for n in numbers))
        _note_attempts(session, plan, options.user_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ImportResult(
        filename=filename, created=len(contact_ids), duplicates=counts[DUPLICATE], errors=counts[ERROR], contact_ids=contact_ids
    )


def _note_attempts(session, plan: Plan, user_id: int) -> None:
    """Rows skipped as another advisor's contact: the contact gets a note, its owner reads it in the digest."""
    matches = [
        Match(
            contact_id=d["contact_id"],
            owner_id=d["owner_id"],
            owner_name=d["owner_name"],
            reason=d["reason"],
            detail=d["detail"],
            score=1.0,
        )
        for result in plan.rows
        if result.status == DUPLICATE
        for d in result.duplicates
        if d.get("foreign")
    ]
    if matches:
        record_attempt(session, session.get(Advisor, user_id), matches)


def _write_batches(
    session, plan: Plan, numbers: list[int], filename: str, user_id: int, now: datetime, progress: Progress
) -> list[int]:
    """Any database: multi-row INSERT … RETURNING id in batches, then notes and tags."""
    contact_ids: list[int] = []
    statement = insert(Contact).returning(Contact.id, sort_by_parameter_order=True)
    for batch in _chunks(numbers, BATCH):
        ids = list(session.scalars(statement, [_contact_row(plan.records[n], filename, now) for n in batch]))
        contact_ids.extend(ids)
        notes: list[dict] = []
        links: list[dict] = []
        for number, contact_id in zip(batch, ids, strict=True):
            record = plan.records[number]
            notes.append(_note_row(contact_id, filename, number, record, user_id, now))
            links.extend({"contact_id": contact_id, "tag_id": tag_id} for tag_id in record["tag_ids"])
        session.execute(insert(Note), notes)
        if links:
            session.execute(insert(contact_tags), links)
        progress("write", len(contact_ids), len(numbers))
    return contact_ids


# ---------------------------------------------------------------- writing with COPY (PostgreSQL)


def _copy_connection(session):
    """The psycopg 3 connection under the session's transaction, or None on other drivers."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    return connection.connection.driver_connection


def _write_copy(
    session, plan: Plan, numbers: list[int], filename: str, user_id: int, now: datetime, progress: Progress
) -> list[int]:
    """COPY contacts, notes and tags, in the session's transaction.

    The ids are taken from the contacts' own sequence first (one query), so the rows go
    in with COPY — no RETURNING, no statement text built and parsed per batch — and the
    notes and tags can point at them straight away. Like any INSERT, a rollback leaves
    only a gap in the sequence.
    """
    connection = session.connection()
    ids = sorted(
        connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": Contact.__tablename__, "count": len(numbers)},
        ).scalars()
    )
    pairs = list(zip(numbers, ids, strict=True))
    cursor = _copy_connection(session).cursor()
    dialect = connection.dialect
    # Each row is built as it is sent, not all of them first: its search key (most of the
    # Python side of the write) is computed while PostgreSQL still indexes the rows before it.
    contacts = ({"id": contact_id, **_contact_row(plan.records[number], filename, now)} for number, contact_id in pairs)
    _copy(cursor, dialect, Contact.__table__, contacts, lambda done: progress("write", done, len(numbers)))
    notes = (_note_row(contact_id, filename, number, plan.records[number], user_id, now) for number, contact_id in pairs)
    _copy(cursor, dialect, Note.__table__, notes)
    links = (
        {"contact_id": contact_id, "tag_id": tag_id} for number, contact_id in pairs for tag_id in plan.records[number]["tag_ids"]
    )
    _copy(cursor, dialect, contact_tags, links)
    progress("write", len(numbers), len(numbers))
    return ids


def _copy(cursor, dialect, table, rows: Iterable[dict], report: Callable[[int], None] = lambda _done: None) -> None:
    """COPY rows (dicts, all with the first one's keys) into table, reporting the count sent every
    BATCH rows and at the end.

    Values pass through each column's own bind processor, so enums and UTC datetimes
    are stored exactly as an INSERT through SQLAlchemy would store them (a value that is
    the very object of the row before, such as the import's one timestamp, is converted once).
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = list(first)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    converted = [(i, process) for i, process in enumerate(processors) if process is not None]
    last: dict[int, tuple] = {}  # column -> (the value before, what it became)
    quote = dialect.identifier_preparer.quote
    statement = (
        f"COPY {dialect.identifier_preparer.format_table(table)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    )
    done = 0
    with cursor.copy(statement) as copy:
        for done, row in enumerate(itertools.chain((first,), rows), start=1):
            values = [row[name] for name in columns]
            for i, process in converted:
                value = values[i]
                if value is None:
                    continue
                before = last.get(i)
                if before is not None and before[0] is value:
                    values[i] = before[1]
                else:
                    values[i] = process(value)
                    last[i] = (value, values[i])
            copy.write_row(values)
            if done % BATCH == 0:
                report(done)
    report(done)
