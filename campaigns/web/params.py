"""Query-string and form values, parsed in one place.

A value that is missing or empty means "not given" (the caller's default). A value that is
there but wrong — not a number, out of range, a date nobody could mean — is a 400 with a
Russian sentence saying what is expected, never a 500 from deep inside a query
(`date - timedelta(10**12)`, an id beyond a 64-bit integer, a year 9999 plus 90 days).
The ranges are the ones the pages offer; nothing a person types in a form is refused.
"""

from __future__ import annotations

from datetime import date

from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from .. import contact_pages

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a bigger id cannot exist
MAX_DAYS = 3650  # «не в работе N дней»: ten years is "never"
MAX_PAGE = 100_000
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the calendar's range
_MAX_DIGITS = 12


class BadParameter(BadRequest):
    """A malformed parameter; ``description`` is the Russian message, ``parameter`` the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(description=message)
        self.parameter = name


def _raw(name: str, source) -> str:
    value = (request.args if source is None else source).get(name, "")
    return value.strip() if isinstance(value, str) else ""


def integer(name: str, *, low: int, high: int, what: str, source=None) -> int | None:
    raw = _raw(name, source)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS and low <= int(raw) <= high):
        raise BadParameter(name, f"{what}: нужно целое число от {low} до {high}, а получено «{raw[:40]}».")
    return int(raw)


def record_id(name: str, source=None) -> int | None:
    """The id of a contact, tag, advisor… chosen in a list."""
    return integer(name, low=1, high=MAX_ID, what=f"Неверный номер в параметре «{name}»", source=source)


def days(name: str = "days", source=None) -> int | None:
    return integer(name, low=1, high=MAX_DAYS, what="Число дней", source=source)


def page(name: str = "page", source=None, *, by_number: bool = True, onward: str = "кнопкой «дальше →»") -> int:
    """The page's number. ``by_number``: the list finds the page by it (OFFSET, no cursor), which
    goes only as deep as its count (contact_pages.LAST_NUMBERED_PAGE); beside a cursor it is only
    the number the reader sees. ``onward`` says how to go further instead."""
    number = integer(name, low=1, high=MAX_PAGE, what="Номер страницы", source=source) or 1
    if by_number and number > contact_pages.LAST_NUMBERED_PAGE:
        raise BadParameter(name, too_deep(number, onward))
    return number


def too_deep(number: int, onward: str) -> str:
    """Why page ``number`` is not opened by its number, and how to go further."""
    last = contact_pages.LAST_NUMBERED_PAGE
    shown = f"{last * contact_pages.PER_PAGE:,}".replace(",", "\u00a0")
    return (
        f"Страницу {number} по номеру не открыть: так открываются страницы с 1 по {last}"
        f" (первые {shown} контактов). Дальше листайте {onward} или сузьте список фильтром."
    )


def year(name: str = "year", source=None) -> int | None:
    return integer(name, low=FIRST_YEAR, high=LAST_YEAR, what="Год", source=source)


def day(name: str, source=None) -> date | None:
    """A date as the browser's date picker sends it (ГГГГ-ММ-ДД), within the calendar's years."""
    raw = _raw(name, source)
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or not FIRST_YEAR <= value.year <= LAST_YEAR or len(raw) != 10:
        raise BadParameter(
            name, f"Дата должна быть в виде ГГГГ-ММ-ДД, с {FIRST_YEAR} по {LAST_YEAR} год, а получено «{raw[:40]}»."
        )
    return value


_NUL_MESSAGE = "В запросе есть нулевой символ (NUL): так не пишут ни в одном поле. Уберите его."


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def screen_request() -> None:
    """Before every request, what no view can be expected to survive is refused at the door:
    a NUL character in a parameter, a form field, a file name or a JSON string (nobody types
    one, and PostgreSQL cannot store one), and JSON nested past Python's recursion limit
    (the json module raises RecursionError, which Flask does not turn into a 400)."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if _has_nul(name) or _has_nul(value):
                raise BadParameter(name.replace("\x00", ""), _NUL_MESSAGE)
    for name, upload in request.files.items(multi=True):
        if _has_nul(upload.filename or ""):
            raise BadParameter(name, _NUL_MESSAGE)
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:
            raise BadParameter("body", "JSON вложен слишком глубоко.") from None
        if _has_nul(data):
            raise BadParameter("body", _NUL_MESSAGE)


class RecordIdConverter(IntegerConverter):
    """``<int:…>`` in a URL: a number beyond any id is simply not found (404), not a database overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
