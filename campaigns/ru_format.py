"""Russian dates, numbers and plurals (Babel, ru_RU), for pages and mails alike. Pure."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

_RU = Locale.parse("ru_RU")


def ru_date(value: date | datetime | None, fmt: str = "d MMMM y", *, timezone: tzinfo) -> str:
    """A date, or a moment as the clock in ``timezone`` shows it; «—» for nothing."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value.astimezone(timezone), fmt, locale="ru_RU")
    return format_date(value, fmt, locale="ru_RU")


def ru_datetime(value: datetime | None, *, timezone: tzinfo) -> str:
    return ru_date(value, "d MMMM y, HH:mm", timezone=timezone)


def ru_number(value) -> str:
    return format_decimal(value or 0, locale="ru_RU")


def plural(n: int, one: str, few: str, many: str) -> str:
    """plural(3, 'письмо', 'письма', 'писем') -> '3 письма'."""
    form = _RU.plural_form(abs(int(n)))
    word = {"one": one, "few": few}.get(form, many)
    return f"{ru_number(n)} {word}"
