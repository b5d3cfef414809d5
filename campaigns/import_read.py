"""Reading a contacts file (CSV or XLSX) into a header and rows, and mapping its headers to our fields.

Everything a hostile file could do is bounded here, before a row is checked: size, columns,
rows, cell length, and for an .xlsx the unpacked size, the compression ratio and any DTD.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zlib import error as zlib_error

from openpyxl import load_workbook

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 500  # a Bitrix24 export has about a hundred
MAX_CELL = 32_767  # Excel's own limit: a longer cell was not written by Excel
# An .xlsx is a zip of XML: these bound what a small file may unpack to (a zip bomb)
# before any XML is parsed.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 100  # real sheets compress 5–20 times; 100 MB of one letter, 1000 times
MAX_MEMBERS = 1000


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
        "e-mail рабочий",
        "e-mail",
        "эл почта",
        "электронная почта",
        "e-mail для рассылок",
        "e-mail личный",
        "e-mail домашний",
        "e-mail другой",
    ),
    "phone": (
        "телефон рабочий",
        "телефон",
        "phone",
        "телефон мобильный",
        "мобильный телефон",
        "телефон домашний",
        "телефон другой",
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


class ImportFileError(Exception):
    """The file as a whole cannot be read; str(error) is Russian for the user."""


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


_NOT_TEXT = (
    "Файл не похож на таблицу CSV в кодировке UTF-8 или Windows-1251: сохраните его из Excel как «CSV UTF-8» или как .xlsx."
)


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
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
    sample = "\n".join(text[: 64 * 1024].splitlines()[:50])
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
        raise ImportFileError(f"В файле {len(header)} столбцов, можно не больше {MAX_COLUMNS}: оставьте только нужные.")
    return header


_BAD_XLSX = "Не удалось прочитать файл Excel: сохраните его заново как .xlsx или .csv."


def _read_xlsx(path: Path) -> tuple[list, Iterator[list]]:

    row_counts = inspect_xlsx(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        sheet: Any = book.active  # a ReadOnlyWorksheet; its _worksheet_path is not in openpyxl's stubs
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
        if (
            len(members) > MAX_MEMBERS
            or unpacked > MAX_UNPACKED_BYTES
            or any(m.file_size > 1024 * 1024 and m.file_size > MAX_RATIO * max(m.compress_size, 1) for m in members)
        ):
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
                raise ImportFileError(
                    "Файл Excel содержит объявления DTD (так бывает во вредоносных файлах): сохраните таблицу заново в Excel."
                )
            if _LONG_TEXT.search(data):
                raise ImportFileError(_TOO_LONG)
            rows += len(_ROW_TAG.findall(head))
            tail = data[cut:]
            if not chunk:
                return rows
