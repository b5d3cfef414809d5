"""Checking an import: what would happen to every row of a file, writing nothing.

preview_import() reads the file and says for every row what would happen — new, duplicate
of whom (and who owns it), or error (which field, why). import_commit runs the same checks
again inside its transaction.

The rules:
- Duplicates are never created, whatever the user ticks: a row that matches an existing
  contact (e-mail, phone, or a company owned by another advisor) or an earlier row of
  the same file is reported with the owner and left out.
- Owner: an advisor (and marketing) imports into their own name; the admin chooses the
  owner, optionally taking it from the «Ответственный» column (a name or an e-mail).

Speed: the duplicate index is built once per import (duplicates.DuplicateIndex), of the stored
contacts the file's rows can match (duplicates.Reach); the
field checks cache per distinct value (contact_fields); no ORM objects.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import select

from . import consent, contact_fields, import_read
from .contact_fields import FieldError, split_company
from .duplicates import DuplicateIndex, Entry, Hit, Reach, company_label, person_key
from .export import EXPORT_COLUMNS
from .import_read import ImportFileError, map_columns, read_table
from .models import Advisor, Role, Tag

NEW, DUPLICATE, ERROR = "new", "duplicate", "error"
STATUS_LABELS = {NEW: "новый", DUPLICATE: "дубликат", ERROR: "ошибка"}

FIELD_LABELS = {
    **dict(EXPORT_COLUMNS),
    "email": "E-mail",
    "phone": "Телефон",
    "company_alias": "Второе название компании",
    "comment": "Комментарий",
    "row": "Строка",
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


@dataclass
class ImportOptions:
    user_id: int
    owner_id: int | None = None  # the admin's choice; anyone else imports into their own name
    use_owner_column: bool = False  # admin only: «Ответственный» wins where it is filled
    skip_errors: bool = False


@dataclass
class RowResult:
    number: int  # the row as a spreadsheet shows it (the header is row 1)
    status: str
    values: dict = field(default_factory=dict)  # what the contact would get (display form)
    errors: dict = field(default_factory=dict)  # field -> Russian message
    duplicates: list = field(default_factory=list)  # [{contact_id, row, owner_name, detail}]
    hints: list = field(default_factory=list)  # Russian remarks that do not stop the row


@dataclass
class Plan:
    filename: str
    rows: list[RowResult]
    columns: dict[str, list[str]]  # field -> the file's headers feeding it
    unused_columns: list[str]
    records: dict = field(default_factory=dict, repr=False)  # row number -> insertable values (new rows)

    @property
    def counts(self) -> dict[str, int]:
        counts = {NEW: 0, DUPLICATE: 0, ERROR: 0}
        for row in self.rows:
            counts[row.status] += 1
        return counts


Progress = Callable[[str, int, int], None]


def no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


# ---------------------------------------------------------------- one row


_LIST_SPLIT = re.compile(r"[,;\s]+")
_TAG_SPLIT = re.compile(r"[,;\n]+")
_PHONE_SPLIT = re.compile(r"[,;]")
_DATE_FORMATS = (
    "%d.%m.%Y",
    "%Y-%m-%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%y",
)


def _text(value) -> str:
    if type(value) is str:  # nearly every cell: no conversion to find
        text = value
    else:
        text = value.isoformat() if isinstance(value, (date, datetime)) else str(value or "")
    # Our export guards formula-looking cells with a quote (CSV injection); take it off.
    if text.startswith("'") and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]
    return " ".join(text.split())


def _parse_date(value, label: str) -> date | datetime:
    if isinstance(value, (date, datetime)):
        return value
    text = _text(value)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise FieldError("", f"«{text}» — не дата; {label} пишите как 31.12.2026.")


def as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def as_moment(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(12, 0), tzinfo=UTC)  # a day without time: noon UTC is that day in Russia


@dataclass
class _Row:
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    emails: list = field(default_factory=list)
    phones: list = field(default_factory=list)
    extra: list = field(default_factory=list)  # Russian lines for the note
    tag_names: list = field(default_factory=list)
    owner_ref: str = ""


def clean_row(cells: list, columns: dict[str, list[int]]) -> _Row | None:
    """Normalised values and per-field errors of one row; None for an empty row."""
    texts = [_text(c) for c in cells]  # once per cell: a row asks for its cells many times
    if not any(texts):
        return None
    width = len(cells)

    def get(name: str) -> list:
        return [texts[i] for i in columns.get(name, ()) if i < width and texts[i]]

    def first(name: str) -> str:  # get(name)[0], or "" when the row has none
        for i in columns.get(name, ()):
            if i < width and texts[i]:
                return texts[i]
        return ""

    def get_raw(name: str) -> list:  # dates: XLSX gives date objects, kept as they are
        return [cells[i] for i in columns.get(name, ()) if i < width and texts[i]]

    row = _Row()
    for name in ("first_name", "middle_name", "last_name", "position", "company_alias", "consent_source", "comment"):
        row.values[name] = first(name)
    company, alias = split_company(first("company"))
    row.values["company"] = company
    row.values["company_alias"] = row.values["company_alias"] or alias
    for name, limit in _LENGTHS.items():
        if len(row.values[name]) > limit:
            row.errors[name] = f"Слишком длинно: {len(row.values[name])} символов, можно не больше {limit}."

    for name, normalize, target in (
        ("email", contact_fields.normalize_email, row.emails),
        ("phone", contact_fields.normalize_phone, row.phones),
    ):
        for cell in get(name):
            parts = _LIST_SPLIT.split(cell) if name == "email" else _PHONE_SPLIT.split(cell)
            for part in (p.strip() for p in parts):
                if not part:
                    continue
                try:
                    value = normalize(part)
                except FieldError as exc:
                    row.errors.setdefault(name, exc.message)
                    continue
                if value not in target:
                    target.append(value)
    row.values["email"] = row.emails[0] if row.emails else None
    row.values["phone"] = row.phones[0] if row.phones else None
    if row.emails[1:]:
        row.extra.append("Другие адреса эл. почты из файла: " + ", ".join(row.emails[1:]))
    if row.phones[1:]:
        row.extra.append("Другие телефоны из файла: " + ", ".join(row.phones[1:]))
    if row.values["comment"]:
        row.extra.append("Комментарий из файла: " + row.values["comment"])

    for name, label in (
        ("consent_at", "дату согласия"),
        ("unsubscribed_at", "дату отписки"),
        ("next_contact_on", "дату следующего контакта"),
    ):
        found = get_raw(name)
        row.values[name] = None
        if found:
            try:
                row.values[name] = _parse_date(found[0], label)
            except FieldError as exc:
                row.errors[name] = exc.message
    row.tag_names = [t.strip() for cell in get("tags") for t in _TAG_SPLIT.split(cell) if t.strip()]
    row.owner_ref = first("owner")
    if not any(row.values[n] for n in ("first_name", "last_name", "company", "email", "phone")):
        row.errors["row"] = "Нет ни имени, ни компании, ни e-mail, ни телефона: не из чего сделать контакт."
    return row


# ---------------------------------------------------------------- the plan


class _Owners:
    """Advisors by e-mail and by name (word order and case ignored)."""

    def __init__(self, session):
        self.by_id: dict[int, Advisor] = {}
        self.by_email: dict[str, Advisor] = {}
        self.by_name: dict[frozenset, list[Advisor]] = {}
        for advisor in session.scalars(select(Advisor)):
            self.by_id[advisor.id] = advisor
            self.by_email[advisor.email.lower()] = advisor
            self.by_name.setdefault(self._name_key(advisor.name), []).append(advisor)

    @staticmethod
    def _name_key(name: str) -> frozenset:
        return frozenset(name.lower().replace("ё", "е").split())

    def find(self, ref: str) -> Advisor:
        advisor = self.by_email.get(ref.lower())
        if advisor is None:
            named = self.by_name.get(self._name_key(ref), [])
            if len(named) > 1:
                raise FieldError("owner", f"Сотрудников с именем «{ref}» несколько: укажите e-mail.")
            advisor = named[0] if named else None
        if advisor is None:
            raise FieldError("owner", f"Сотрудника «{ref}» нет в системе.")
        if not advisor.active:
            raise FieldError("owner", f"{advisor.name} больше не работает: выберите другого ответственного.")
        if advisor.role != Role.ADVISOR:
            raise FieldError("owner", f"{advisor.name} не советник: контакты принадлежат советникам.")
        return advisor


def _row_entry(number: int, row: _Row, owner: Advisor, key: str) -> Entry:
    names = tuple(contact_fields.key_names(key))
    return Entry(
        contact_id=None,
        owner_id=owner.id,
        owner_name=owner.name,
        email=row.values["email"],
        phone=row.values["phone"],
        names=names,
        label=company_label(row.values["company"], row.values["company_alias"]),
        row=number,
        person=person_key(row.values["first_name"], row.values["last_name"]),
    )


def _lookup(index: DuplicateIndex, row: _Row, names: tuple) -> list[Hit]:
    hits = {id(h.entry): h for h in index.lookup(email=row.values["email"], phone=row.values["phone"], names=names)}
    for email in row.emails[1:]:
        for hit in index.lookup(email=email):
            hits.setdefault(id(hit.entry), hit)
    for phone in row.phones[1:]:
        for hit in index.lookup(phone=phone):
            hits.setdefault(id(hit.entry), hit)
    return list(hits.values())


def _judge(hits: list[Hit], entry: Entry) -> tuple[list[dict], list[str]]:
    """Which hits make the row a duplicate, and which are only worth a remark.

    The same e-mail or phone is always the same contact. The same company is a
    duplicate when another advisor owns it (nobody takes a company silently) or when
    it is the same person; a colleague at a company the owner already has is new.
    """
    blocking: list = []
    hints: list = []
    for hit in hits:
        other = hit.entry
        detail = hit.detail
        if hit.reason == "company" and other.owner_id == entry.owner_id:
            if not (entry.person and other.person == entry.person):
                if not hints:  # one remark is enough, however many colleagues there are
                    where = f"строка {other.row}" if other.row else other.owner_name
                    hints.append(f"Компания «{other.label}» уже есть ({where}); контакт будет добавлен к ней.")
                continue
            detail = f"тот же человек в компании «{other.label}»"
        blocking.append(
            {
                "contact_id": other.contact_id,
                "row": other.row,
                "owner_name": other.owner_name,
                "owner_id": other.owner_id,
                "reason": hit.reason,
                "detail": detail,
                # another advisor's contact: its owner learns of the attempt (duplicates.record_attempt)
                "foreign": other.contact_id is not None and other.owner_id != entry.owner_id,
            }
        )
    return blocking, hints


@contextmanager
def collector_paused():
    """No cyclic garbage collection while a file is checked and written.

    The check keeps a few objects per row alive until the end (100,000 rows: about a
    million), and every full collection walks all of them again: a quarter of the
    check's time went there. The rows hold no reference cycles, so nothing piles up.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_plan(session, path: Path, filename: str, options: ImportOptions, progress: Progress = no_progress) -> Plan:
    """Read and check every row; writes nothing."""
    with collector_paused():
        return _build_plan(session, path, filename, options, progress)


def _build_plan(session, path: Path, filename: str, options: ImportOptions, progress: Progress) -> Plan:
    header, rows = read_table(path, filename)
    columns, unused = map_columns(header)
    known = set(columns) - {"comment", "owner", "tags"}
    if not known:
        raise ImportFileError(
            "В первой строке файла нет знакомых названий столбцов (Имя, Фамилия, Компания, E-mail рабочий, "
            "Телефон рабочий…). Первая строка должна быть заголовком."
        )
    user = session.get(Advisor, options.user_id)
    owners = _Owners(session)
    default_owner = user
    if user.role == Role.ADMIN and options.owner_id:
        default_owner = owners.by_id[options.owner_id]
    owner_column = user.role == Role.ADMIN and options.use_owner_column and "owner" in columns
    tags = {t.name.lower(): t for t in session.scalars(select(Tag))}

    results: list[RowResult] = []
    checked: list[tuple[RowResult, _Row, Advisor, list[int], str, Entry]] = []  # rows without errors, in file order
    for number, cells in enumerate(rows, start=2):
        if number - 1 > import_read.MAX_ROWS:
            raise ImportFileError(f"В файле больше {import_read.MAX_ROWS} строк данных: разделите его на части.")
        if number % 1000 == 0:
            progress("check", number - 1, 0)
        row = clean_row(list(cells), columns)
        if row is None:
            continue
        owner = default_owner
        if owner_column and row.owner_ref:
            try:
                owner = owners.find(row.owner_ref)
            except FieldError as exc:
                row.errors["owner"] = exc.message
        elif owner.role != Role.ADVISOR:
            row.errors["owner"] = "Выберите ответственного советника: контакты принадлежат советникам."
        tag_ids = []
        for name in row.tag_names:
            tag = tags.get(name.lower())
            if tag is None:
                row.errors["tags"] = f"Тега «{name}» нет: создайте его или исправьте название."
            elif tag.id not in tag_ids:
                tag_ids.append(tag.id)
        result = RowResult(
            number=number, status=ERROR if row.errors else NEW, errors=row.errors, values=_display(row, owner, tag_ids, tags)
        )
        results.append(result)
        if row.errors:
            continue
        key = contact_fields.company_key(row.values["company"], row.values["company_alias"])
        checked.append((result, row, owner, tag_ids, key, _row_entry(number, row, owner, key)))
    if not results:
        raise ImportFileError("В файле нет ни одной строки с данными.")

    # Duplicates, once every row is read: the index holds only the stored contacts the file's
    # e-mails, phones and company names can reach (duplicates.Reach), not all of them.
    index = DuplicateIndex.load(
        session,
        near=Reach(
            emails={email for _r, row, *_ in checked for email in row.emails},
            phones={phone for _r, row, *_ in checked for phone in row.phones},
            names={name for *_, entry in checked for name in entry.names},
        ),
    )
    in_file = DuplicateIndex()
    records: dict[int, dict] = {}
    addressed: list[tuple[RowResult, list[str]]] = []  # checked against the stop list at the end, all at once
    for result, row, owner, tag_ids, key, entry in checked:
        number = result.number
        blocking, hints = _judge(_lookup(index, row, entry.names), entry)
        file_blocking, file_hints = _judge(_lookup(in_file, row, entry.names), entry)
        result.duplicates = blocking + file_blocking
        result.hints = hints + file_hints
        if row.emails:
            addressed.append((result, row.emails))
        if result.duplicates:
            result.status = DUPLICATE
            continue
        in_file.add(entry)
        records[number] = {"row": row, "owner_id": owner.id, "tag_ids": tag_ids, "company_key": key}
    suppressed = consent.on_stop_list(session, (email for _result, emails in addressed for email in emails))
    for result, emails in addressed:
        if any(email in suppressed for email in emails):
            result.hints.append("Адрес в списке исключений (отписка или недоставка): писем на него не будет.")
    return Plan(
        filename=filename,
        rows=results,
        columns={k: [str(header[i]) for i in v] for k, v in columns.items()},
        unused_columns=unused,
        records=records,
    )


def _display(row: _Row, owner: Advisor, tag_ids: list[int], tags: dict) -> dict:
    values = {k: v for k, v in row.values.items() if k != "comment"}
    values["company_label"] = company_label(row.values["company"], row.values["company_alias"])
    values["owner"] = owner.name
    values["tags"] = ", ".join(row.tag_names)
    for name in ("consent_at", "unsubscribed_at", "next_contact_on"):
        if values[name] is not None:
            values[name] = as_date(values[name]).strftime("%d.%m.%Y")
    return values


def preview_import(session, path: Path, filename: str, options: ImportOptions, progress: Progress = no_progress) -> Plan:
    try:
        return build_plan(session, path, filename, options, progress)
    finally:
        session.rollback()  # reading only: end the transaction the checks opened
