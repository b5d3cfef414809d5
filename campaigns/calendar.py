"""Mailing calendar: when does each tag's yearly mailing go out.

Pure date arithmetic (no DB, no I/O). Every tag has a short rule string (``Tag.rule``)
and a lead time in calendar days (``Tag.lead_days``). The rule grammar is fixed:

* ``"<nth> <weekday> <month>"`` - nth is 1..5 or ``last``; weekday ``mon``..``sun``;
  month ``jan``..``dec``. E.g. ``"2 sun aug"`` (2nd Sunday of August), ``"last sun sep"``.
  If a 5th weekday does not exist in a given year (``"5 sun feb"``), the last one of
  the month is used instead.
* ``"<day> <month>"`` - a fixed date, e.g. ``"22 dec"``. ``"29 feb"`` is rejected because
  it does not exist every year.
* ``"day <n>"`` - the n-th day of the year, 1..365, e.g. ``"day 256"`` (Programmer's
  Day: 13 Sep, 12 Sep in leap years). ``"day 366"`` is rejected for the same reason.
* ``"workday1 <month>"`` - the first Russian working day of the month.

Case and whitespace are not significant. Anything else raises ``ValueError`` with a
Russian message that the UI can show as is.

The send date is the occurrence minus ``lead_days`` calendar days, moved back to the
previous working day if it is not one. For ``workday1`` rules with lead 0 this is the
occurrence itself.

Working days come from the ``holidays`` package (``country_holidays("RU")``), which
models the statutory days off, the government's yearly transfer decrees (bridge days
off and working Saturdays, ``weekend_workdays``) and the weekend carry-overs those
decrees list - but only for years whose decree the installed package version knows
(up to 2027 in holidays 0.109). For later years it only has the statutory dates; this
module then adds the carry-over of Labour Code art. 112 itself (a non-January holiday
falling on Saturday/Sunday moves the day off to the next working day). What stays
unknown for such years are the transfers of the January weekend days and any working
Saturdays, which only the future decree will fix. Regional holidays and shortened
pre-holiday days are not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays

__all__ = [
    "Rule",
    "add_working_days",
    "due_tags",
    "is_working_day",
    "next_working_day",
    "parse_rule",
    "previous_working_day",
    "send_date",
    "upcoming",
    "year_calendar",
]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Days in each month in a non-leap year: a fixed date must exist every year.
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_LAST = -1  # Rule.nth value for "last"

_NUMBER = re.compile(r"[0-9]{1,4}")

_EXAMPLES = '"2 sun aug", "22 dec", "day 256" или "workday1 mar"'
_MONTH_HINT = "jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec"
_WEEKDAY_HINT = "mon, tue, wed, thu, fri, sat, sun"


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """A parsed rule. Build it with :func:`parse_rule`.

    ``kind`` is one of ``Rule.NTH_WEEKDAY``, ``Rule.FIXED``, ``Rule.DAY_OF_YEAR``,
    ``Rule.WORKDAY1``. Fields not used by a kind are ``None``:

    * ``month`` - 1..12 (all kinds except ``DAY_OF_YEAR``);
    * ``day`` - day of the month (``FIXED``) or day of the year (``DAY_OF_YEAR``);
    * ``weekday`` - 0 = Monday .. 6 = Sunday (``NTH_WEEKDAY``);
    * ``nth`` - 1..5, or -1 for "last" (``NTH_WEEKDAY``).
    """

    NTH_WEEKDAY = "nth_weekday"
    FIXED = "fixed"
    DAY_OF_YEAR = "day_of_year"
    WORKDAY1 = "workday1"

    kind: str
    month: int | None = None
    day: int | None = None
    weekday: int | None = None
    nth: int | None = None

    def occurrence(self, year: int) -> date:
        """The holiday / professional day itself (or the first working day) in ``year``."""
        month, day, weekday, nth = self.month or 0, self.day or 0, self.weekday or 0, self.nth or 0  # set by kind
        if self.kind == Rule.FIXED:
            return date(year, month, day)
        if self.kind == Rule.DAY_OF_YEAR:
            return date(year, 1, 1) + timedelta(days=day - 1)
        if self.kind == Rule.WORKDAY1:
            return next_working_day(date(year, month, 1))
        if self.kind == Rule.NTH_WEEKDAY:
            return _nth_weekday(year, month, weekday, nth)
        raise ValueError(f"Неизвестный вид правила: {self.kind!r}")

    @property
    def is_workday1(self) -> bool:
        return self.kind == Rule.WORKDAY1

    def __str__(self) -> str:
        """The canonical rule string (what :func:`parse_rule` accepts)."""
        month, weekday = self.month or 0, self.weekday or 0  # set by kind
        if self.kind == Rule.FIXED:
            return f"{self.day} {MONTHS[month - 1]}"
        if self.kind == Rule.DAY_OF_YEAR:
            return f"day {self.day}"
        if self.kind == Rule.WORKDAY1:
            return f"workday1 {MONTHS[month - 1]}"
        nth = "last" if self.nth == _LAST else str(self.nth)
        return f"{nth} {WEEKDAYS[weekday]} {MONTHS[month - 1]}"


def _last_day_of_month(year: int, month: int) -> date:
    if month == 12:
        return date(year, 12, 31)
    return date(year, month + 1, 1) - timedelta(days=1)


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    """The nth given weekday of the month; "last" (-1), or a missing 5th, gives the last."""
    if nth != _LAST:
        first = date(year, month, 1)
        candidate = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
        if candidate.month == month:
            return candidate
    last = _last_day_of_month(year, month)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _bad_rule(raw: str) -> ValueError:
    return ValueError(f'Непонятное правило "{raw}": ожидается, например, {_EXAMPLES}')


def _month(token: str, raw: str) -> int:
    if token not in MONTHS:
        raise ValueError(f'Неизвестный месяц "{token}" в правиле "{raw}": используйте {_MONTH_HINT}')
    return MONTHS.index(token) + 1


def _number(token: str) -> int | None:
    return int(token) if _NUMBER.fullmatch(token) else None


@lru_cache(maxsize=1024)
def _parse(normalized: str, raw: str) -> Rule:
    tokens = normalized.split(" ")
    if len(tokens) == 3:
        nth_token, weekday_token, month_token = tokens
        nth: int | None
        if nth_token == "last":
            nth = _LAST
        else:
            nth = _number(nth_token)
            if nth is None:
                raise _bad_rule(raw)
            if not 1 <= nth <= 5:
                raise ValueError(f'Номер дня недели в правиле "{raw}" должен быть от 1 до 5 или "last", а указано {nth}')
        if weekday_token not in WEEKDAYS:
            raise ValueError(f'Неизвестный день недели "{weekday_token}" в правиле "{raw}": используйте {_WEEKDAY_HINT}')
        return Rule(
            Rule.NTH_WEEKDAY,
            month=_month(month_token, raw),
            weekday=WEEKDAYS.index(weekday_token),
            nth=nth,
        )

    if len(tokens) != 2:
        raise _bad_rule(raw)
    first, second = tokens

    if first == "day":
        n = _number(second)
        if n is None:
            raise _bad_rule(raw)
        if not 1 <= n <= 365:
            raise ValueError(f'Номер дня года в правиле "{raw}" должен быть от 1 до 365, а указано {n}')
        return Rule(Rule.DAY_OF_YEAR, day=n)

    if first == "workday1":
        return Rule(Rule.WORKDAY1, month=_month(second, raw))

    day = _number(first)
    if day is None or second in WEEKDAYS:
        raise _bad_rule(raw)
    month = _month(second, raw)
    if month == 2 and day == 29:
        raise ValueError(f'Правило "{raw}": 29 февраля бывает не каждый год, выберите другую дату')
    if not 1 <= day <= _MONTH_DAYS[month - 1]:
        raise ValueError(f'Правило "{raw}": в месяце "{second}" нет {day}-го числа (бывает от 1 до {_MONTH_DAYS[month - 1]})')
    return Rule(Rule.FIXED, month=month, day=day)


def parse_rule(rule: str | Rule) -> Rule:
    """Parse a rule string; raise ``ValueError`` with a Russian message if it is invalid.

    A ``Rule`` is returned as is.
    """
    if isinstance(rule, Rule):
        return rule
    if not isinstance(rule, str):
        raise TypeError(f"rule must be a str or Rule, not {type(rule).__name__}")
    normalized = " ".join(rule.lower().split())
    if not normalized:
        raise ValueError(f"Пустое правило: укажите, например, {_EXAMPLES}")
    return _parse(normalized, rule.strip())


# ------------------------------------------------------------------- working days

# Labour Code art. 112: days off (other than the January ones) that move to the next
# working day when they fall on a weekend. Used only for years without decree data.
_CARRY_OVER_HOLIDAYS = ((2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4))
_STATUTORY_SINCE_2013 = frozenset([(1, d) for d in range(1, 9)] + list(_CARRY_OVER_HOLIDAYS))


@dataclass(frozen=True)
class _YearDays:
    days_off: frozenset[date]  # public holidays and transferred days off
    working_weekends: frozenset[date]  # Saturdays/Sundays declared working days


@lru_cache(maxsize=128)
def _year_days(year: int) -> _YearDays:
    ru = holidays.country_holidays("RU", years=year)
    days_off = {d for d in ru if d.year == year}
    working_weekends = {d for d in getattr(ru, "weekend_workdays", ()) if d.year == year}
    decree_known = bool(working_weekends) or any((d.month, d.day) not in _STATUTORY_SINCE_2013 for d in days_off)
    if year >= 2013 and not decree_known:
        for month, day in _CARRY_OVER_HOLIDAYS:
            holiday = date(year, month, day)
            if holiday.weekday() >= 5:
                moved = holiday + timedelta(days=1)
                while moved.weekday() >= 5 or moved in days_off:
                    moved += timedelta(days=1)
                days_off.add(moved)
    return _YearDays(frozenset(days_off), frozenset(working_weekends))


def _as_date(d: date) -> date:
    return d.date() if isinstance(d, datetime) else d


def is_working_day(d: date) -> bool:
    """True if ``d`` is a working day in Russia (federal production calendar)."""
    d = _as_date(d)
    year_days = _year_days(d.year)
    if d.weekday() >= 5:
        return d in year_days.working_weekends
    return d not in year_days.days_off


def previous_working_day(d: date) -> date:
    """``d`` itself if it is a working day, else the nearest working day before it."""
    d = _as_date(d)
    while not is_working_day(d):
        d -= timedelta(days=1)
    return d


def next_working_day(d: date) -> date:
    """``d`` itself if it is a working day, else the nearest working day after it."""
    d = _as_date(d)
    while not is_working_day(d):
        d += timedelta(days=1)
    return d


def add_working_days(d: date, n: int) -> date:
    """Move ``n`` working days forward (``n`` > 0) or back (``n`` < 0) from ``d``.

    Only days after (before) ``d`` are counted, so the result is always a working day
    for ``n`` != 0, whether or not ``d`` is one. ``n == 0`` returns ``d`` unchanged.
    """
    d = _as_date(d)
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        d += step
        if is_working_day(d):
            remaining -= 1
    return d


# -------------------------------------------------------------------- send dates


def _lead(lead_days: int | None) -> int:
    lead = int(lead_days or 0)
    if lead < 0:
        raise ValueError(f"Срок отправки не может быть отрицательным: {lead} дн.")
    return lead


def send_date(rule: str | Rule, lead_days: int | None, year: int) -> date:
    """When the mailing for the ``year`` occurrence of ``rule`` goes out.

    Occurrence minus ``lead_days`` calendar days, moved back to the previous working
    day if needed. For ``workday1`` rules with lead 0 that is the occurrence itself.
    With a long lead the send date may fall in the previous calendar year.
    """
    parsed = parse_rule(rule)
    target = parsed.occurrence(year) - timedelta(days=_lead(lead_days))
    return previous_working_day(target)


# A mailing missed on its send date (downtime, an offer made ready late) is still sent until
# its occasion has passed, and at least this many days after the send date (month tags).
CATCH_UP_DAYS = 14


def mailing_window(rule: str | Rule, lead_days: int | None, year: int) -> tuple[date, date]:
    """(send date, last day) of the ``year`` mailing: none of its mails may go out after the last day.

    The last day is the occasion itself, but at least CATCH_UP_DAYS after the send date: a
    Builders' Day offer after Builders' Day would be an embarrassment, not a catch-up.
    """
    parsed = parse_rule(rule)
    start = send_date(parsed, lead_days, year)
    return start, max(parsed.occurrence(year), start + timedelta(days=CATCH_UP_DAYS))


def year_calendar(tags: Iterable[Any], year: int) -> list[tuple[Any, date, date]]:
    """``(tag, occurrence, send_date)`` for every tag in ``year``, sorted by send date.

    ``tags`` are any objects with ``.rule`` and ``.lead_days``. Ties keep input order.
    """
    rows = []
    for tag in tags:
        rule = parse_rule(tag.rule)
        rows.append((tag, rule.occurrence(year), send_date(rule, tag.lead_days, year)))
    rows.sort(key=lambda row: row[2])
    return rows


def due_tags(tags: Iterable[Any], today: date) -> list[Any]:
    """Tags whose send date for this year's occurrence is on or before ``today``.

    Catches up after downtime: a date missed last week is still due. The caller must
    remember which (tag, year) mailings were already sent. The "year" is the year of
    the occurrence (``today.year``). Sorted by send date, oldest first.
    """
    today = _as_date(today)
    dated = []
    for tag in tags:
        when = send_date(tag.rule, tag.lead_days, today.year)
        if when <= today:
            dated.append((when, tag))
    dated.sort(key=lambda pair: pair[0])
    return [tag for _, tag in dated]


def upcoming(tags: Iterable[Any], today: date, days: int = 90) -> list[tuple[Any, date]]:
    """``(tag, send_date)`` for send dates from ``today`` to ``today + days`` inclusive.

    Looks into next year's occurrences too, so late-December queries see January
    mailings. With ``days`` > 365 a tag can appear more than once. Sorted by date.
    """
    today = _as_date(today)
    end = today + timedelta(days=days)
    rows = []
    for tag in tags:
        rule = parse_rule(tag.rule)
        year = today.year
        while True:
            when = send_date(rule, tag.lead_days, year)
            if when > end:
                break
            if when >= today:
                rows.append((tag, when))
            year += 1
    rows.sort(key=lambda row: row[1])
    return rows
