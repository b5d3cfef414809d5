"""Contacts from CSV and XLSX files (our own export, a Bitrix24 export), and back.

Two steps. preview_import() reads the file and says for every row what would happen —
new, duplicate of whom (and who owns it), or error (which field, why) — and writes
nothing. commit_import() does the same checks again inside one transaction (the data
may have changed since the preview) and writes the new rows in bulk.

The rules:
- All or nothing: if any row has an error, nothing is written — unless the user ticked
  «пропустить строки с ошибками»; then exactly the error rows are left out and listed.
- Duplicates are never created, whatever the user ticks: a row that matches an existing
  contact (e-mail, phone, or a company owned by another advisor) or an earlier row of
  the same file is reported with the owner and left out.
- Owner: an advisor (and marketing) imports into their own name; the admin chooses the
  owner, optionally taking it from the «Ответственный» column (a name or an e-mail).
- Every imported contact gets its consent source and time and a system note.

Speed: the duplicate index is built once per import (duplicates.DuplicateIndex); the
field checks cache per distinct value (contact_fields); on PostgreSQL contacts, notes and
tags go in with COPY (ids taken from the sequence first), elsewhere with multi-row
INSERTs in batches; no ORM objects. 100,000 rows: about 18 s on PostgreSQL, most of it the
per-row checks (see bench/import_bench.py and the README).
"""
from __future__ import annotations

import codecs
import csv
import gc
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zlib import error as zlib_error

from sqlalchemy import insert, select, text

from . import consent, contact_fields
from .contact_fields import FieldError, split_company
from .db import utcnow
from .duplicates import DuplicateIndex, Entry, Hit, company_label, lock_contact_writes, person_key
from .models import Advisor, Contact, Note, NoteKind, Role, Tag, contact_tags

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 500  # a Bitrix24 export has about a hundred
MAX_CELL = 32_767  # Excel's own limit: a longer cell was not written by Excel
# An .xlsx is a zip of XML: these bound what a small file may unpack to (a zip bomb)
# before any XML is parsed.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 100  # real sheets compress 5–20 times; 100 MB of one letter, 1000 times
MAX_MEMBERS = 1000
BATCH = 2000  # rows per executemany: big enough to be fast, small enough to show progress

NEW, DUPLICATE, ERROR = "new", "duplicate", "error"
STATUS_LABELS = {NEW: "новый", DUPLICATE: "дубликат", ERROR: "ошибка"}

# Our columns in export order; the import accepts these and the aliases below.
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
FIELD_LABELS = {
    **dict(EXPORT_COLUMNS),
    "email": "E-mail",
    "phone": "Телефон",
    "company_alias": "Второе название компании",
    "comment": "Комментарий",
    "row": "Строка",
}

# Header spellings, normalised by _header_key(). For e-mail and phone the order is the
# priority: the first filled column becomes the contact's address, the others go to the note.
HEADERS: dict[str, tuple[str, ...]] = {
    "first_name": ("имя", "first name", "firstname", "name"),
    "middle_name": ("отчество", "middle name", "second name"),
    "last_name": ("фамилия", "last name", "lastname", "surname"),
    "company": ("компания", "название компании", "организация", "company", "company name"),
    "company_alias": ("второе название компании", "псевдоним компании", "company alias"),
    "position": ("должность", "position", "job title", "title"),
    "email": (
        "e-mail рабочий", "e-mail", "эл почта", "электронная почта", "e-mail для рассылок",
        "e-mail личный", "e-mail домашний", "e-mail другой",
    ),
    "phone": (
        "телефон рабочий", "телефон", "phone", "телефон мобильный", "мобильный телефон",
        "телефон домашний", "телефон другой",
    ),
    "owner": ("ответственный", "owner", "советник", "владелец"),
    "tags": ("теги", "tags", "метки", "тег"),
    "consent_source": ("источник согласия", "consent source"),
    "consent_at": ("дата согласия", "consent date"),
    "unsubscribed_at": ("отписан", "отписался", "unsubscribed"),
    "next_contact_on": ("следующий контакт", "дата следующего контакта", "next contact"),
    "comment": ("комментарий", "примечание", "comment"),
}
_HEADER_INDEX = {spelling: (name, rank) for name, spellings in HEADERS.items() for rank, spelling in enumerate(spellings)}
_MULTI = ("email", "phone")

_LENGTHS = {
    "first_name": 100, "middle_name": 100, "last_name": 100, "company": 300, "company_alias": 300,
    "position": 200, "consent_source": 300,
}


class ImportFileError(Exception):
    """The file as a whole cannot be read; str(error) is Russian for the user."""


class ImportHasErrors(Exception):
    """commit_import() refused: some rows have errors and skipping them was not asked for."""

    def __init__(self, plan: Plan):
        super().__init__(f"В файле {plan.counts[ERROR]} строк с ошибками; ничего не записано.")
        self.plan = plan


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

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


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


@dataclass
class ImportResult:
    filename: str
    created: int
    duplicates: int
    errors: int  # rows left out because the user chose to skip error rows
    contact_ids: list[int] = field(default_factory=list, repr=False)


Progress = Callable[[str, int, int], None]


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


# ---------------------------------------------------------------- reading files


def _header_key(raw) -> str:
    value = str(raw or "").strip().lower().replace("ё", "е").lstrip("\ufeff")
    value = re.sub(r"\be[-\s]?mail\b|\bе-?mail\b", "e-mail", value)  # E-mail, Email, е-mail (Cyrillic е)
    value = re.sub(r"[():*.,]", " ", value)
    return " ".join(value.split())


def map_columns(headers: list) -> tuple[dict[str, list[int]], list[str]]:
    """field -> column indexes (by priority), and the headers nobody reads."""
    found: dict[str, list[tuple[int, int]]] = {}
    unused = []
    for index, raw in enumerate(headers):
        key = _header_key(raw)
        name, rank = _HEADER_INDEX.get(key, (None, 0))
        if name is None and key.startswith("e-mail"):
            name, rank = "email", 99  # Bitrix has more e-mail kinds than we list
        elif name is None and key.startswith("телефон"):
            name, rank = "phone", 99
        if name is None or (name in found and name not in _MULTI):
            if str(raw or "").strip():
                unused.append(str(raw).strip())
            continue
        found.setdefault(name, []).append((rank, index))
    return {name: [i for _r, i in sorted(cols)] for name, cols in found.items()}, unused


_NOT_TEXT = ("Файл не похож на таблицу CSV в кодировке UTF-8 или Windows-1251: "
             "сохраните его из Excel как «CSV UTF-8» или как .xlsx.")


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Excel on Russian Windows saves CSV in Windows-1251; it decodes almost any byte
        # string (not 0x98), so it comes last.
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            raise ImportFileError(_NOT_TEXT) from None
    if "\x00" in text:  # binary, or UTF-16; and no database stores a NUL in text
        raise ImportFileError(_NOT_TEXT)
    return text


def _csv_rows(reader) -> Iterator[list]:
    """The reader's rows; a broken file (an unclosed quote swallowing the rest, a cell over the
    csv module's limit) is the user's to fix, said in Russian."""
    try:
        yield from reader
    except csv.Error:
        raise ImportFileError(
            f"Строка {reader.line_num} файла не читается: незакрытая кавычка или ячейка длиннее "
            f"{csv.field_size_limit()} знаков. Проверьте кавычки в файле или сохраните его как .xlsx."
        ) from None


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text[:64 * 1024].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t").delimiter
    except csv.Error:
        first = text.split("\n", 1)[0]
        return max(";,\t", key=first.count)


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number: 79161234567.0
    if isinstance(value, (datetime, date)):
        return value
    return str(value)


def read_table(path: Path, filename: str | None = None) -> tuple[list, Iterator[list]]:
    """The header and an iterator over the data rows (cells as str, or date for XLSX dates)."""
    name = (filename or path.name).lower()
    if name.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(path)
    if name.endswith(".xls"):
        raise ImportFileError("Старый формат .xls не поддерживается: сохраните файл как .xlsx или .csv.")
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(path)
    text = _decode(data)
    if not text.strip():
        raise ImportFileError("Файл пуст.")
    rows = _csv_rows(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text)))
    header = next(rows, [])
    return _checked_header(header), rows


def _checked_header(header: list) -> list:
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(f"В файле {len(header)} столбцов, можно не больше {MAX_COLUMNS}: "
                              "оставьте только нужные.")
    return header


_BAD_XLSX = "Не удалось прочитать файл Excel: сохраните его заново как .xlsx или .csv."


def _read_xlsx(path: Path) -> tuple[list, Iterator[list]]:
    from openpyxl import load_workbook

    row_counts = inspect_xlsx(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.active
        rows = row_counts.get(sheet._worksheet_path.lstrip("/"), 0)
        if rows - 1 > MAX_ROWS:
            book.close()
            raise ImportFileError(_too_many_rows(rows - 1))
        # Read-only mode believes the sheet's <dimension>, which any program may write
        # wrongly (A1:A1 over 250,000 rows): forget it and read the rows that are there.
        sheet.reset_dimensions()
        iterator = sheet.iter_rows(values_only=True)
        header = [_cell(v) for v in next(iterator, ())]
    except ImportFileError:
        raise
    except Exception:  # openpyxl and the XML parser raise many kinds for a damaged or foreign file
        raise ImportFileError(_BAD_XLSX) from None

    def data():
        try:
            for row in iterator:
                cells = [_cell(v) for v in row]
                if any(isinstance(c, str) and len(c) > MAX_CELL for c in cells):
                    raise ImportFileError(_TOO_LONG)
                yield cells
        except ImportFileError:
            raise
        except Exception:  # the sheet is parsed as it is read: damage may come late
            raise ImportFileError(_BAD_XLSX) from None
        finally:
            book.close()

    return _checked_header(header), data()


def _too_many_rows(rows: int) -> str:
    return f"В файле {rows} строк данных, можно не больше {MAX_ROWS}: разделите его на части."


def inspect_xlsx(path: Path) -> dict[str, int]:
    """Refuse a hostile .xlsx before any XML is parsed; the number of rows of each sheet.

    Zip: at most MAX_UNPACKED_BYTES unpacked in all, no member compressed more than MAX_RATIO
    times (the sizes are the zip directory's; zipfile stops at the declared size and checks
    the CRC, so a member cannot unpack to more than it declares). XML, streamed in chunks:
    no DTD (external entities, «billion laughs»), no text run longer than a cell may be.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFileError(_BAD_XLSX) from None
    with archive:
        members = archive.infolist()
        unpacked = sum(m.file_size for m in members)
        if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES or any(
                m.file_size > 1024 * 1024 and m.file_size > MAX_RATIO * max(m.compress_size, 1) for m in members):
            raise ImportFileError(
                f"Файл Excel распаковывается в {unpacked // (1024 * 1024)} МБ или сжат подозрительно сильно "
                f"(можно не больше {MAX_UNPACKED_BYTES // (1024 * 1024)} МБ): сохраните таблицу заново или как .csv."
            )
        try:
            return {m.filename: _scan_xml(archive, m) for m in members if m.filename.endswith((".xml", ".rels"))}
        except (zipfile.BadZipFile, OSError, EOFError, zlib_error, NotImplementedError, RuntimeError):
            raise ImportFileError(_BAD_XLSX) from None


_TOO_LONG = f"В файле Excel есть ячейка длиннее {MAX_CELL} знаков — больше, чем позволяет сам Excel."
_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s/>]")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# A bound on one text run before parsing (4 bytes a character: Cyrillic is 2 in UTF-8, an
# escape more); the exact limit is checked on every cell as it is read. Anchored after a
# «<» so that a long legal run is scanned once, not once per starting byte.
_LONG_TEXT = re.compile(rb"(?<![^<])[^<]{%d}" % (MAX_CELL * 4))
_CHUNK = 1024 * 1024


def _scan_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """Rows in one XML member, read in chunks; ImportFileError for a DTD or an overlong cell."""
    rows = 0
    tail = b""  # from the last «<» of what was read: a tag cut in two by the chunking
    with archive.open(member) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            data = tail + chunk
            cut = data.rfind(b"<") if chunk else len(data)
            if cut < 0:
                cut = 0
            head = data[:cut]
            if _DTD.search(head):
                raise ImportFileError("Файл Excel содержит объявления DTD (так бывает во вредоносных файлах): "
                                      "сохраните таблицу заново в Excel.")
            if _LONG_TEXT.search(data):
                raise ImportFileError(_TOO_LONG)
            rows += len(_ROW_TAG.findall(head))
            tail = data[cut:]
            if not chunk:
                return rows


# ---------------------------------------------------------------- one row


_LIST_SPLIT = re.compile(r"[,;\s]+")
_TAG_SPLIT = re.compile(r"[,;\n]+")
_PHONE_SPLIT = re.compile(r"[,;]")
_DATE_FORMATS = (
    "%d.%m.%Y", "%Y-%m-%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%y",
)


def _text(value) -> str:
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


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def _as_moment(value) -> datetime:
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

    def get_raw(name: str) -> list:  # dates: XLSX gives date objects, kept as they are
        return [cells[i] for i in columns.get(name, ()) if i < width and texts[i]]

    row = _Row()
    for name in ("first_name", "middle_name", "last_name", "position", "company_alias", "consent_source", "comment"):
        found = get(name)
        row.values[name] = found[0] if found else ""
    company = (get("company") or [""])[0]
    company, alias = split_company(company)
    row.values["company"] = company
    row.values["company_alias"] = row.values["company_alias"] or alias
    for name, limit in _LENGTHS.items():
        if len(row.values[name]) > limit:
            row.errors[name] = f"Слишком длинно: {len(row.values[name])} символов, можно не больше {limit}."

    for name, normalize, target in (("email", contact_fields.normalize_email, row.emails),
                                    ("phone", contact_fields.normalize_phone, row.phones)):
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

    for name, label in (("consent_at", "дату согласия"), ("unsubscribed_at", "дату отписки"),
                        ("next_contact_on", "дату следующего контакта")):
        found = get_raw(name)
        row.values[name] = None
        if found:
            try:
                row.values[name] = _parse_date(found[0], label)
            except FieldError as exc:
                row.errors[name] = exc.message
    row.tag_names = [t.strip() for cell in get("tags") for t in _TAG_SPLIT.split(cell) if t.strip()]
    row.owner_ref = (get("owner") or [""])[0]
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
    blocking, hints = [], []
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
        blocking.append({"contact_id": other.contact_id, "row": other.row, "owner_name": other.owner_name,
                         "reason": hit.reason, "detail": detail})
    return blocking, hints


@contextmanager
def _collector_paused():
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


def build_plan(session, path: Path, filename: str, options: ImportOptions, progress: Progress = _no_progress) -> Plan:
    """Read and check every row; writes nothing."""
    with _collector_paused():
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
    suppressed = consent.stop_list(session)
    index = DuplicateIndex.load(session)
    in_file = DuplicateIndex()

    results: list[RowResult] = []
    records: dict[int, dict] = {}
    for number, cells in enumerate(rows, start=2):
        if number - 1 > MAX_ROWS:
            raise ImportFileError(f"В файле больше {MAX_ROWS} строк данных: разделите его на части.")
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
        result = RowResult(number=number, status=ERROR if row.errors else NEW, errors=row.errors,
                           values=_display(row, owner, tag_ids, tags))
        results.append(result)
        if row.errors:
            continue
        key = contact_fields.company_key(row.values["company"], row.values["company_alias"])
        entry = _row_entry(number, row, owner, key)
        blocking, hints = _judge(_lookup(index, row, entry.names), entry)
        file_blocking, file_hints = _judge(_lookup(in_file, row, entry.names), entry)
        result.duplicates = blocking + file_blocking
        result.hints = hints + file_hints
        if any(e in suppressed for e in row.emails):
            result.hints.append("Адрес в списке исключений (отписка или недоставка): писем на него не будет.")
        if result.duplicates:
            result.status = DUPLICATE
            continue
        in_file.add(entry)
        records[number] = {"row": row, "owner_id": owner.id, "tag_ids": tag_ids, "company_key": key}
    if not results:
        raise ImportFileError("В файле нет ни одной строки с данными.")
    return Plan(filename=filename, rows=results, columns={k: [str(header[i]) for i in v] for k, v in columns.items()},
                unused_columns=unused, records=records)


def _display(row: _Row, owner: Advisor, tag_ids: list[int], tags: dict) -> dict:
    values = {k: v for k, v in row.values.items() if k != "comment"}
    values["company_label"] = company_label(row.values["company"], row.values["company_alias"])
    values["owner"] = owner.name
    values["tags"] = ", ".join(row.tag_names)
    for name in ("consent_at", "unsubscribed_at", "next_contact_on"):
        if values[name] is not None:
            values[name] = _as_date(values[name]).strftime("%d.%m.%Y")
    return values


def preview_import(session, path: Path, filename: str, options: ImportOptions, progress: Progress = _no_progress) -> Plan:
    try:
        return build_plan(session, path, filename, options, progress)
    finally:
        session.rollback()  # reading only: end the transaction the checks opened


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
        "position": v["position"],
        "email": v["email"],
        "phone": v["phone"],
        "next_contact_on": _as_date(v["next_contact_on"]) if v["next_contact_on"] else None,
        "consent_source": (v["consent_source"] or f"импорт: {filename}")[:300],
        "consent_at": _as_moment(v["consent_at"]) if v["consent_at"] else now,
        "unsubscribed_at": _as_moment(v["unsubscribed_at"]) if v["unsubscribed_at"] else None,
        "created_at": now,
        "updated_at": now,
    }


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _note_body(filename: str, number: int, record: dict) -> str:
    return "\n".join([f"Импортирован из файла «{filename}» (строка {number}).", *record["row"].extra])


def commit_import(session, path: Path, filename: str, options: ImportOptions, progress: Progress = _no_progress) -> ImportResult:
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
        with _collector_paused():
            contact_ids = write(session, plan, numbers, filename, options.user_id, utcnow(), progress)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ImportResult(filename=filename, created=len(contact_ids), duplicates=counts[DUPLICATE],
                        errors=counts[ERROR], contact_ids=contact_ids)


def _write_batches(session, plan: Plan, numbers: list[int], filename: str, user_id: int, now: datetime,
                   progress: Progress) -> list[int]:
    """Any database: multi-row INSERT … RETURNING id in batches, then notes and tags."""
    contact_ids: list[int] = []
    statement = insert(Contact).returning(Contact.id, sort_by_parameter_order=True)
    for batch in _chunks(numbers, BATCH):
        ids = list(session.scalars(statement, [_contact_row(plan.records[n], filename, now) for n in batch]))
        contact_ids.extend(ids)
        notes, links = [], []
        for number, contact_id in zip(batch, ids, strict=True):
            record = plan.records[number]
            notes.append({"contact_id": contact_id, "kind": NoteKind.SYSTEM, "author_id": user_id,
                          "body": _note_body(filename, number, record), "created_at": now})
            links.extend({"contact_id": contact_id, "tag_id": tag_id} for tag_id in record["tag_ids"])
        session.execute(insert(Note), notes)
        if links:
            session.execute(insert(contact_tags), links)
        progress("write", len(contact_ids), len(numbers))
    return contact_ids


# ---------------------------------------------------------------- writing with COPY (PostgreSQL)

_NOTE_COLUMNS = ("contact_id", "kind", "author_id", "body", "created_at")


def _copy_connection(session):
    """The psycopg 3 connection under the session's transaction, or None on other drivers."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    return connection.connection.driver_connection


def _write_copy(session, plan: Plan, numbers: list[int], filename: str, user_id: int, now: datetime,
                progress: Progress) -> list[int]:
    """COPY contacts, notes and tags, in the session's transaction.

    The ids are taken from the contacts' own sequence first (one query), so the rows go
    in with COPY — no RETURNING, no statement text built and parsed per batch — and the
    notes and tags can point at them straight away. Like any INSERT, a rollback leaves
    only a gap in the sequence.
    """
    connection = session.connection()
    ids = sorted(connection.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": Contact.__table__.name, "count": len(numbers)},
    ).scalars())
    contacts, notes, links = [], [], []
    for number, contact_id in zip(numbers, ids, strict=True):
        record = plan.records[number]
        contacts.append({"id": contact_id, **_contact_row(record, filename, now)})
        notes.append({"contact_id": contact_id, "kind": NoteKind.SYSTEM, "author_id": user_id,
                      "body": _note_body(filename, number, record), "created_at": now})
        links.extend({"contact_id": contact_id, "tag_id": tag_id} for tag_id in record["tag_ids"])
    cursor = _copy_connection(session).cursor()
    dialect = connection.dialect
    columns = list(contacts[0]) if contacts else []
    _copy(cursor, dialect, Contact.__table__, columns, contacts, lambda done: progress("write", done, len(numbers)))
    _copy(cursor, dialect, Note.__table__, _NOTE_COLUMNS, notes)
    _copy(cursor, dialect, contact_tags, ("contact_id", "tag_id"), links)
    progress("write", len(numbers), len(numbers))
    return ids


def _copy(cursor, dialect, table, columns, rows: list[dict], report: Callable[[int], None] = lambda _done: None) -> None:
    """COPY rows (dicts) into table, reporting the count sent every BATCH rows and at the end.

    Values pass through each column's own bind processor, so enums and UTC datetimes
    are stored exactly as an INSERT through SQLAlchemy would store them.
    """
    if not rows:
        return
    columns = list(columns)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    converted = [(i, process) for i, process in enumerate(processors) if process is not None]
    quote = dialect.identifier_preparer.quote
    statement = (f"COPY {dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(name) for name in columns)}) FROM STDIN")
    with cursor.copy(statement) as copy:
        for done, row in enumerate(rows, start=1):
            values = [row[name] for name in columns]
            for i, process in converted:
                if values[i] is not None:
                    values[i] = process(values[i])
            copy.write_row(values)
            if done % BATCH == 0:
                report(done)
    report(len(rows))


# ---------------------------------------------------------------- export


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel (CSV injection): quote it.
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_rows(session, user: Advisor) -> Iterator[list[str]]:
    """The header and one row per contact the user may see (an advisor: their own)."""
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


def export_csv(session, user: Advisor) -> Iterator[str]:
    """CSV for Excel: UTF-8 with a BOM, «;» between columns, CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    yield "\ufeff"
    for number, row in enumerate(export_rows(session, user)):
        writer.writerow(row)
        if number % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# ---------------------------------------------------------------- job state (Redis)


STATE_TTL = 2 * 24 * 3600


def state_key(import_id: str) -> str:
    return f"campaigns:import:{import_id}"


def save_state(redis, import_id: str, **values) -> None:
    """One import's state (file, options, preview, progress, result) as JSON fields of a hash."""
    key = state_key(import_id)
    redis.hset(key, mapping={k: json.dumps(v, ensure_ascii=False, default=str) for k, v in values.items()})
    redis.expire(key, STATE_TTL)


def load_state(redis, import_id: str) -> dict | None:
    raw = redis.hgetall(state_key(import_id))
    if not raw:
        return None
    return {k.decode(): json.loads(v) for k, v in raw.items()}


PREVIEW_ROWS = 300  # rows kept for the preview page: problems first, then a sample of new rows
PREVIEW_TEXT = 300  # characters of one value or message kept for the preview page


def _short(value):
    """``value`` with every string cut to PREVIEW_TEXT characters: an overlong cell is an error
    already, and the state (kept two days in Redis) and the page need only its start."""
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_TEXT else value[:PREVIEW_TEXT] + "…"
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_short(v) for v in value]
    return value


def summarize(plan: Plan) -> dict:
    """What the preview page shows, small enough for Redis whatever the file's size."""
    problems = [r for r in plan.rows if r.status != NEW]
    sample = [r for r in plan.rows if r.status == NEW][: max(20, PREVIEW_ROWS - len(problems))]
    shown = sorted((problems[:PREVIEW_ROWS] + sample), key=lambda r: r.number)
    return {
        "filename": plan.filename,
        "counts": plan.counts,
        "total": len(plan.rows),
        "columns": _short(plan.columns),
        "unused_columns": _short(plan.unused_columns),
        "rows": [_short(asdict(r)) for r in shown],
        "truncated": len(shown) < len(plan.rows),
    }


def _progress_writer(redis, import_id: str) -> Progress:
    def progress(phase: str, done: int, total: int) -> None:
        save_state(redis, import_id, phase=phase, done=done, total=total)

    return progress


def start_state(redis, import_id: str, *, path: Path, filename: str, options: ImportOptions) -> None:
    save_state(redis, import_id, path=str(path), filename=filename, options=asdict(options),
               status="previewing", phase="check", done=0, total=0)


def run_step(session, redis, import_id: str, step: str) -> dict:
    """Preview or commit one stored import and record the outcome in its state.

    The web request calls this for small files, the RQ job for long ones; either way
    the page reads the outcome from the state.
    """
    state = load_state(redis, import_id)
    if state is None:
        raise ImportFileError("Импорт не найден или устарел: загрузите файл ещё раз.")
    options = ImportOptions(**state["options"])
    path, filename = Path(state["path"]), state["filename"]
    progress = _progress_writer(redis, import_id)
    try:
        if step == "preview":
            plan = preview_import(session, path, filename, options, progress)
            save_state(redis, import_id, status="previewed", preview=summarize(plan), error="")
        else:
            options.skip_errors = bool(state.get("skip_errors"))
            result = commit_import(session, path, filename, options, progress)
            save_state(redis, import_id, status="done",
                       result={"created": result.created, "duplicates": result.duplicates, "errors": result.errors})
    except ImportHasErrors as exc:
        redis.delete(state_key(import_id) + ":claim")  # the user may fix things and try again
        save_state(redis, import_id, status="previewed", preview=summarize(exc.plan),
                   error="Пока готовился импорт, данные изменились: в файле есть строки с ошибками. Ничего не записано.")
    except ImportFileError as exc:
        save_state(redis, import_id, status="failed", error=str(exc))
    except Exception:
        save_state(redis, import_id, status="failed",
                   error="Импорт прервался из-за внутренней ошибки; ничего не записано. "
                         "Попробуйте ещё раз или сообщите администратору.")
        raise
    return load_state(redis, import_id)
