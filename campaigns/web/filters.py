"""Jinja filters for the pages: Russian dates in the configured zone, numbers and plurals (ru_format)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from .. import rules_ru
from ..config import current_settings
from ..ru_format import plural, ru_number
from ..ru_format import ru_date as _ru_date


def ru_date(value: date | datetime | None, fmt: str = "d MMMM y") -> str:
    return _ru_date(value, fmt, timezone=current_settings().timezone)


def ru_datetime(value: datetime | None) -> str:
    return ru_date(value, "d MMMM y, HH:mm")


def install(app: Flask) -> None:
    app.jinja_env.filters.update(ru_date=ru_date, ru_datetime=ru_datetime, ru_number=ru_number)
    app.jinja_env.globals.update(plural=plural)

    app.jinja_env.filters.update(rule_ru=rules_ru.describe)  # «3 sun jun» → «3-е воскресенье июня»
    app.jinja_env.globals.update(lead_ru=rules_ru.describe_lead)
