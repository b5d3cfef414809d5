"""Tests for campaigns.calendar: rule parsing, Russian working days, send dates.

The expected dates below are literal values worked out by hand against a printed
calendar and the Russian production calendars for 2026 and 2027 (government decrees
on transferred days off), never recomputed by the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.calendar import (
    Rule,
    add_working_days,
    due_tags,
    is_working_day,
    next_working_day,
    parse_rule,
    previous_working_day,
    send_date,
    upcoming,
    year_calendar,
)


@dataclass(frozen=True)
class FakeTag:
    name: str
    rule: str
    lead_days: int


# The seeded catalog: (name, rule, lead_days, send date 2026, send date 2027).
#
# Sunday-based rules minus 21 days land on a Sunday, so they go out on the Friday
# before. Notable cases:
# * Моряки 2026: 5 Jul - 21 = Sun 14 Jun; Sat 13 Jun; Fri 12 Jun is Russia Day -> Thu 11 Jun.
# * Моряки 2027: 4 Jul - 21 = Sun 13 Jun; Sat 12 Jun (Russia Day) -> Fri 11 Jun
#   (the day off moves to Mon 14 Jun, Fri 11 Jun stays a working day).
# * Торговля 2026: 25 Jul - 21 = Sat 4 Jul -> Fri 3 Jul.
# * Айти: day 256 = 13 Sep (non-leap). 2026: Sun 23 Aug -> Fri 21 Aug; 2027: Mon 23 Aug.
# * 8 марта 2026: 8 Mar - 21 = Sun 15 Feb -> Fri 13 Feb.
# * Months: May 2026 starts Fri (holiday) + weekend -> Mon 4 May; May 2027 starts Sat
#   (holiday, carried to Mon 3 May) -> Tue 4 May; Nov 2026 starts on Sunday -> Mon 2 Nov;
#   Mar 2026 starts on Sunday -> Mon 2 Mar; Aug 2026 starts Sat -> Mon 3 Aug;
#   Aug 2027 starts Sun -> Mon 2 Aug.
CATALOG = [
    ("Строители", "2 sun aug", 21, date(2026, 7, 17), date(2027, 7, 16)),
    ("Медики", "3 sun jun", 21, date(2026, 5, 29), date(2027, 5, 28)),
    ("Нефтяники", "1 sun sep", 21, date(2026, 8, 14), date(2027, 8, 13)),
    ("Железнодорожники", "1 sun aug", 21, date(2026, 7, 10), date(2027, 7, 9)),
    ("Моряки", "1 sun jul", 21, date(2026, 6, 11), date(2027, 6, 11)),
    ("Энергетики", "22 dec", 21, date(2026, 12, 1), date(2027, 12, 1)),
    ("Айти", "day 256", 21, date(2026, 8, 21), date(2027, 8, 23)),
    ("Финансы", "8 sep", 21, date(2026, 8, 18), date(2027, 8, 18)),
    ("Промышленность", "last sun sep", 21, date(2026, 9, 4), date(2027, 9, 3)),
    ("Торговля", "4 sat jul", 21, date(2026, 7, 3), date(2027, 7, 2)),
    ("Автотранспорт", "last sun oct", 21, date(2026, 10, 2), date(2027, 10, 8)),
    ("23 февраля", "23 feb", 21, date(2026, 2, 2), date(2027, 2, 2)),
    ("8 марта", "8 mar", 21, date(2026, 2, 13), date(2027, 2, 15)),
    ("Март", "workday1 mar", 0, date(2026, 3, 2), date(2027, 3, 1)),
    ("Апрель", "workday1 apr", 0, date(2026, 4, 1), date(2027, 4, 1)),
    ("Май", "workday1 may", 0, date(2026, 5, 4), date(2027, 5, 4)),
    ("Июнь", "workday1 jun", 0, date(2026, 6, 1), date(2027, 6, 1)),
    ("Июль", "workday1 jul", 0, date(2026, 7, 1), date(2027, 7, 1)),
    ("Август", "workday1 aug", 0, date(2026, 8, 3), date(2027, 8, 2)),
    ("Сентябрь", "workday1 sep", 0, date(2026, 9, 1), date(2027, 9, 1)),
    ("Октябрь", "workday1 oct", 0, date(2026, 10, 1), date(2027, 10, 1)),
    ("Ноябрь", "workday1 nov", 0, date(2026, 11, 2), date(2027, 11, 1)),
    ("Декабрь", "workday1 dec", 0, date(2026, 12, 1), date(2027, 12, 1)),
]

# The day itself (occurrence) for the non-month tags.
OCCURRENCES = {
    "2 sun aug": (date(2026, 8, 9), date(2027, 8, 8)),
    "3 sun jun": (date(2026, 6, 21), date(2027, 6, 20)),
    "1 sun sep": (date(2026, 9, 6), date(2027, 9, 5)),
    "1 sun aug": (date(2026, 8, 2), date(2027, 8, 1)),
    "1 sun jul": (date(2026, 7, 5), date(2027, 7, 4)),
    "22 dec": (date(2026, 12, 22), date(2027, 12, 22)),
    "day 256": (date(2026, 9, 13), date(2027, 9, 13)),
    "8 sep": (date(2026, 9, 8), date(2027, 9, 8)),
    "last sun sep": (date(2026, 9, 27), date(2027, 9, 26)),
    "4 sat jul": (date(2026, 7, 25), date(2027, 7, 24)),
    "last sun oct": (date(2026, 10, 25), date(2027, 10, 31)),
    "23 feb": (date(2026, 2, 23), date(2027, 2, 23)),
    "8 mar": (date(2026, 3, 8), date(2027, 3, 8)),
}

TAGS = [FakeTag(name, rule, lead) for name, rule, lead, _, _ in CATALOG]
BY_NAME = {tag.name: tag for tag in TAGS}
CATALOG_RULES = [rule for _, rule, _, _, _ in CATALOG]


# ------------------------------------------------------------------ catalog pins


@pytest.mark.parametrize(("name", "rule", "lead", "expected_2026", "expected_2027"), CATALOG)
def test_catalog_send_dates(name, rule, lead, expected_2026, expected_2027):
    assert send_date(rule, lead, 2026) == expected_2026
    assert send_date(rule, lead, 2027) == expected_2027


@pytest.mark.parametrize(("rule", "expected"), sorted(OCCURRENCES.items()))
def test_catalog_occurrences(rule, expected):
    parsed = parse_rule(rule)
    assert (parsed.occurrence(2026), parsed.occurrence(2027)) == expected


def test_month_tags_occurrence_is_send_date():
    for _, rule, _lead, expected_2026, expected_2027 in CATALOG:
        if rule.startswith("workday1"):
            assert parse_rule(rule).occurrence(2026) == expected_2026
            assert parse_rule(rule).occurrence(2027) == expected_2027


def test_send_date_accepts_rule_object():
    assert send_date(parse_rule("2 sun aug"), 21, 2026) == date(2026, 7, 17)


# --------------------------------------------------------------------- shifting


def test_saturday_shifts_to_friday():
    # 4 sat jul 2026 = 25 Jul; minus 21 days = Saturday 4 Jul.
    assert date(2026, 7, 4).weekday() == 5
    assert send_date("4 sat jul", 21, 2026) == date(2026, 7, 3)
    assert send_date("4 jul", 0, 2026) == date(2026, 7, 3)


def test_sunday_shifts_to_friday():
    # 3 sun jun 2026 = 21 Jun; minus 21 days = Sunday 31 May.
    assert date(2026, 5, 31).weekday() == 6
    assert send_date("3 sun jun", 21, 2026) == date(2026, 5, 29)
    assert send_date("5 jul", 0, 2026) == date(2026, 7, 3)


def test_public_holiday_shift():
    # 12 Jun 2026 (Friday) is Russia Day: the Moryaki mailing goes out on Thursday.
    assert send_date("1 sun jul", 21, 2026) == date(2026, 6, 11)
    assert send_date("12 jun", 0, 2026) == date(2026, 6, 11)
    # 4 Nov 2026 (Wednesday), Unity Day.
    assert send_date("4 nov", 0, 2026) == date(2026, 11, 3)


def test_shift_through_new_year_holidays_into_previous_year():
    # 23 Feb 2026 - 45 days = Fri 9 Jan 2026, a day off transferred from Sat 3 Jan;
    # 1-8 Jan are the New Year holidays and 31 Dec 2025 is a transferred day off.
    assert send_date("23 feb", 45, 2026) == date(2025, 12, 30)


def test_working_saturday_is_a_send_day():
    # 2027 decree: Saturday 20 Feb is a working day, Monday 22 Feb a day off.
    assert send_date("13 mar", 21, 2027) == date(2027, 2, 20)
    assert send_date("15 mar", 21, 2027) == date(2027, 2, 20)


def test_lead_zero_on_working_day_is_the_day_itself():
    assert send_date("8 sep", 0, 2026) == date(2026, 9, 8)


def test_negative_lead_is_rejected():
    with pytest.raises(ValueError, match="отрицательн"):
        send_date("8 sep", -1, 2026)


def test_none_lead_means_zero():
    assert send_date("8 sep", None, 2026) == date(2026, 9, 8)


# ------------------------------------------------------------------- rule kinds


def test_day_256_leap_years():
    assert parse_rule("day 256").occurrence(2024) == date(2024, 9, 12)
    assert parse_rule("day 256").occurrence(2028) == date(2028, 9, 12)
    assert parse_rule("day 256").occurrence(2026) == date(2026, 9, 13)
    # 12 Sep 2028 is a Tuesday; minus 21 days = Tuesday 22 Aug 2028.
    assert send_date("day 256", 21, 2028) == date(2028, 8, 22)
    assert parse_rule("day 1").occurrence(2026) == date(2026, 1, 1)
    assert parse_rule("day 365").occurrence(2028) == date(2028, 12, 30)


def test_last_weekday():
    # October 2027 has five Sundays: the last is the 31st.
    assert parse_rule("last sun oct").occurrence(2027) == date(2027, 10, 31)
    assert parse_rule("last sun oct").occurrence(2026) == date(2026, 10, 25)
    assert parse_rule("last fri dec").occurrence(2026) == date(2026, 12, 25)
    assert parse_rule("last mon feb").occurrence(2027) == date(2027, 2, 22)


def test_fifth_weekday_falls_back_to_last():
    # February 2026 has four Sundays (1, 8, 15, 22): "5 sun feb" is the last one.
    assert parse_rule("5 sun feb").occurrence(2026) == date(2026, 2, 22)
    # February 2032 (leap, starts on Sunday) has a real 5th Sunday.
    assert parse_rule("5 sun feb").occurrence(2032) == date(2032, 2, 29)
    # August 2026 has five Mondays: 3, 10, 17, 24, 31.
    assert parse_rule("5 mon aug").occurrence(2026) == date(2026, 8, 31)


def test_first_weekday_on_the_first():
    # 1 Aug 2027 is a Sunday.
    assert parse_rule("1 sun aug").occurrence(2027) == date(2027, 8, 1)
    assert parse_rule("1 mon aug").occurrence(2027) == date(2027, 8, 2)


def test_workday1_month_starting_on_holiday_or_weekend():
    # May 2027: Sat 1 May (holiday), Sun 2, Mon 3 (carried-over day off) -> Tue 4 May.
    assert send_date("workday1 may", 0, 2027) == date(2027, 5, 4)
    # November 2026 starts on a Sunday.
    assert send_date("workday1 nov", 0, 2026) == date(2026, 11, 2)
    # January 2026: 1-8 holidays, 9 transferred day off, 10-11 weekend.
    assert send_date("workday1 jan", 0, 2026) == date(2026, 1, 12)
    # Working day itself.
    assert send_date("workday1 apr", 0, 2026) == date(2026, 4, 1)


def test_workday1_with_lead_subtracts_and_shifts_back():
    # workday1 mar 2026 = Mon 2 Mar; minus 1 = Sun 1 Mar -> Fri 27 Feb.
    assert send_date("workday1 mar", 1, 2026) == date(2026, 2, 27)
    # workday1 may 2026 = Mon 4 May; minus 3 = Fri 1 May (holiday) -> Thu 30 Apr.
    assert send_date("workday1 may", 3, 2026) == date(2026, 4, 30)


# ---------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2 sun aug", "2 sun aug"),
        ("  2   SUN\tAug ", "2 sun aug"),
        ("Last Sun Sep", "last sun sep"),
        ("22 DEC", "22 dec"),
        ("Day 256", "day 256"),
        ("WORKDAY1   Mar", "workday1 mar"),
        ("08 mar", "8 mar"),
    ],
)
def test_parse_is_lenient_on_case_and_whitespace(text, canonical):
    assert str(parse_rule(text)) == canonical
    assert parse_rule(text) == parse_rule(canonical)


def test_parsed_fields():
    assert parse_rule("2 sun aug") == Rule(Rule.NTH_WEEKDAY, month=8, weekday=6, nth=2)
    assert parse_rule("last sun sep") == Rule(Rule.NTH_WEEKDAY, month=9, weekday=6, nth=-1)
    assert parse_rule("22 dec") == Rule(Rule.FIXED, month=12, day=22)
    assert parse_rule("day 256") == Rule(Rule.DAY_OF_YEAR, day=256)
    assert parse_rule("workday1 mar") == Rule(Rule.WORKDAY1, month=3)
    assert parse_rule("workday1 mar").is_workday1
    assert not parse_rule("8 mar").is_workday1


def test_rule_is_frozen():
    rule = parse_rule("8 mar")
    with pytest.raises(AttributeError):
        rule.day = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Пустое правило"),
        ("   ", "Пустое правило"),
        ("hello", "Непонятное правило"),
        ("2 sun", "Непонятное правило"),
        ("2 sun aug 2026", "Непонятное правило"),
        ("second sun aug", "Непонятное правило"),
        ("day", "Непонятное правило"),
        ("day x", "Непонятное правило"),
        ("-1 sun aug", "Непонятное правило"),
        ("31 feb", "нет 31-го числа"),
        ("31 apr", "нет 31-го числа"),
        ("0 mar", "нет 0-го числа"),
        ("29 feb", "29 февраля"),
        ("0 sun aug", "от 1 до 5"),
        ("6 sun aug", "от 1 до 5"),
        ("2 sunday aug", "Неизвестный день недели"),
        ("2 sun august", "Неизвестный месяц"),
        ("22 дек", "Неизвестный месяц"),
        ("workday1 xyz", "Неизвестный месяц"),
        ("day 0", "от 1 до 365"),
        ("day 366", "от 1 до 365"),
        ("workday2 mar", "Непонятное правило"),
    ],
)
def test_invalid_rules_raise_with_russian_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rule(text)


def test_generic_error_message_quotes_rule_and_examples():
    with pytest.raises(ValueError) as excinfo:
        parse_rule("каждый вторник")
    text = str(excinfo.value)
    assert '"каждый вторник"' in text
    assert '"2 sun aug"' in text and '"day 256"' in text and '"workday1 mar"' in text


def test_non_string_rule_is_a_type_error():
    with pytest.raises(TypeError):
        parse_rule(None)  # type: ignore[arg-type]


def test_send_date_rejects_invalid_rule():
    with pytest.raises(ValueError):
        send_date("31 feb", 21, 2026)


# ----------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 1), False),  # New Year holidays
        (date(2026, 1, 8), False),
        (date(2026, 1, 9), False),  # transferred from Sat 3 Jan
        (date(2026, 1, 12), True),
        (date(2026, 2, 23), False),
        (date(2026, 3, 9), False),  # 8 Mar is a Sunday -> Monday off
        (date(2026, 5, 1), False),
        (date(2026, 5, 11), False),  # 9 May is a Saturday -> Monday off
        (date(2026, 6, 12), False),
        (date(2026, 11, 4), False),
        (date(2026, 12, 31), False),  # transferred from Sun 4 Jan
        (date(2026, 12, 30), True),
        (date(2026, 7, 4), False),  # ordinary Saturday
        (date(2026, 7, 5), False),  # ordinary Sunday
        (date(2026, 7, 7), True),  # ordinary Tuesday
        (date(2027, 2, 20), True),  # working Saturday
        (date(2027, 2, 22), False),  # transferred from Sat 20 Feb
        (date(2027, 5, 3), False),
        (date(2027, 5, 10), False),
        (date(2027, 6, 14), False),
        (date(2027, 11, 5), False),  # transferred from Sat 2 Jan
        (date(2027, 12, 31), False),  # transferred from Sun 3 Jan
    ],
)
def test_is_working_day(day, working):
    assert is_working_day(day) is working


def test_is_working_day_accepts_datetime():
    assert is_working_day(datetime(2026, 7, 7, 12, 30)) is True
    assert is_working_day(datetime(2026, 6, 12, 9, 0)) is False


def test_statutory_carry_over_for_years_without_decree():
    # 4 Nov 2028 is a Saturday: by Labour Code art. 112 Monday 6 Nov is a day off.
    assert not is_working_day(date(2028, 11, 4))
    assert not is_working_day(date(2028, 11, 6))
    assert is_working_day(date(2028, 11, 7))


def test_previous_and_next_working_day():
    assert previous_working_day(date(2026, 7, 7)) == date(2026, 7, 7)
    assert next_working_day(date(2026, 7, 7)) == date(2026, 7, 7)
    assert previous_working_day(date(2026, 7, 5)) == date(2026, 7, 3)
    assert next_working_day(date(2026, 7, 4)) == date(2026, 7, 6)
    assert next_working_day(date(2026, 1, 1)) == date(2026, 1, 12)
    assert previous_working_day(date(2026, 1, 11)) == date(2025, 12, 30)
    assert previous_working_day(date(2027, 2, 23)) == date(2027, 2, 20)


def test_add_working_days():
    assert add_working_days(date(2026, 7, 7), 0) == date(2026, 7, 7)
    assert add_working_days(date(2026, 7, 4), 0) == date(2026, 7, 4)
    assert add_working_days(date(2026, 7, 3), 1) == date(2026, 7, 6)
    assert add_working_days(date(2026, 7, 4), 1) == date(2026, 7, 6)
    assert add_working_days(date(2026, 7, 6), -1) == date(2026, 7, 3)
    assert add_working_days(date(2026, 7, 6), 5) == date(2026, 7, 13)
    # Across the New Year: 31 Dec 2026 and 1-8 Jan 2027 off, 9-10 Jan weekend.
    assert add_working_days(date(2026, 12, 30), 1) == date(2027, 1, 11)
    assert add_working_days(date(2027, 1, 11), -1) == date(2026, 12, 30)
    # Across a working Saturday.
    assert add_working_days(date(2027, 2, 19), 1) == date(2027, 2, 20)
    assert add_working_days(date(2027, 2, 20), 1) == date(2027, 2, 24)


# --------------------------------------------------------- calendar, due, upcoming


def test_year_calendar_2026_sorted_by_send_date():
    rows = year_calendar(TAGS, 2026)
    assert [(tag.name, send) for tag, _, send in rows] == [
        ("23 февраля", date(2026, 2, 2)),
        ("8 марта", date(2026, 2, 13)),
        ("Март", date(2026, 3, 2)),
        ("Апрель", date(2026, 4, 1)),
        ("Май", date(2026, 5, 4)),
        ("Медики", date(2026, 5, 29)),
        ("Июнь", date(2026, 6, 1)),
        ("Моряки", date(2026, 6, 11)),
        ("Июль", date(2026, 7, 1)),
        ("Торговля", date(2026, 7, 3)),
        ("Железнодорожники", date(2026, 7, 10)),
        ("Строители", date(2026, 7, 17)),
        ("Август", date(2026, 8, 3)),
        ("Нефтяники", date(2026, 8, 14)),
        ("Финансы", date(2026, 8, 18)),
        ("Айти", date(2026, 8, 21)),
        ("Сентябрь", date(2026, 9, 1)),
        ("Промышленность", date(2026, 9, 4)),
        ("Октябрь", date(2026, 10, 1)),
        ("Автотранспорт", date(2026, 10, 2)),
        ("Ноябрь", date(2026, 11, 2)),
        ("Энергетики", date(2026, 12, 1)),
        ("Декабрь", date(2026, 12, 1)),
    ]
    occurrences = {tag.name: occ for tag, occ, _ in rows}
    assert occurrences["Строители"] == date(2026, 8, 9)
    assert occurrences["Ноябрь"] == date(2026, 11, 2)


def test_year_calendar_accepts_generator_and_empty():
    assert year_calendar((t for t in TAGS[:2]), 2027)[0][0].name == "Медики"
    assert year_calendar([], 2027) == []


def test_due_tags_catch_up_after_downtime():
    # The scheduler was down 10-20 Aug 2026; on the 20th both missed mailings are due.
    due = due_tags(TAGS, date(2026, 8, 20))
    names = [tag.name for tag in due]
    assert "Нефтяники" in names  # 14 Aug
    assert "Финансы" in names  # 18 Aug
    assert "Айти" not in names  # 21 Aug
    assert names == [
        "23 февраля",
        "8 марта",
        "Март",
        "Апрель",
        "Май",
        "Медики",
        "Июнь",
        "Моряки",
        "Июль",
        "Торговля",
        "Железнодорожники",
        "Строители",
        "Август",
        "Нефтяники",
        "Финансы",
    ]


def test_due_tags_send_day_is_inclusive():
    assert BY_NAME["Айти"] in due_tags(TAGS, date(2026, 8, 21))
    assert BY_NAME["Айти"] not in due_tags(TAGS, date(2026, 8, 20))


def test_due_tags_early_january_and_year_end():
    assert due_tags(TAGS, date(2026, 1, 15)) == []
    assert due_tags(TAGS, date(2027, 12, 31)) == sorted(TAGS, key=lambda tag: send_date(tag.rule, tag.lead_days, 2027))
    assert len(due_tags(TAGS, datetime(2026, 12, 1, 8, 0))) == 23


def test_upcoming_spills_into_next_year():
    rows = upcoming(TAGS, date(2026, 12, 15), days=90)
    assert [(tag.name, when) for tag, when in rows] == [
        ("23 февраля", date(2027, 2, 2)),
        ("8 марта", date(2027, 2, 15)),
        ("Март", date(2027, 3, 1)),
    ]


def test_upcoming_next_year_occurrence_sent_this_year():
    # 10 Jan 2027 - 21 days = Sun 20 Dec 2026 -> Fri 18 Dec 2026.
    tag = FakeTag("Январь", "10 jan", 21)
    assert send_date("10 jan", 21, 2027) == date(2026, 12, 18)
    assert upcoming([tag], date(2026, 12, 15), days=10) == [(tag, date(2026, 12, 18))]


def test_upcoming_window_is_inclusive():
    rows = upcoming(TAGS, date(2026, 8, 14), days=4)
    assert [(tag.name, when) for tag, when in rows] == [
        ("Нефтяники", date(2026, 8, 14)),
        ("Финансы", date(2026, 8, 18)),
    ]
    assert upcoming(TAGS, date(2026, 8, 15), days=2) == []


def test_upcoming_long_window_repeats_tags():
    tag = BY_NAME["Энергетики"]
    rows = upcoming([tag], date(2026, 1, 1), days=730)
    assert rows == [(tag, date(2026, 12, 1)), (tag, date(2027, 12, 1))]


# ---------------------------------------------------------------- properties


@given(
    rule=st.sampled_from(CATALOG_RULES),
    lead=st.integers(min_value=0, max_value=60),
    year=st.integers(min_value=2020, max_value=2035),
)
def test_send_date_is_working_day_not_after_occurrence(rule, lead, year):
    when = send_date(rule, lead, year)
    occurrence = parse_rule(rule).occurrence(year)
    assert is_working_day(when)
    if rule.startswith("workday1") and lead == 0:
        assert when == occurrence
    else:
        assert when <= occurrence
        # Never more than the lead plus a holiday stretch (at most ~2 weeks) early.
        assert (occurrence - when).days <= lead + 14


@given(
    nth=st.sampled_from(["1", "2", "3", "4", "5", "last"]),
    weekday=st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    month=st.sampled_from(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    year=st.integers(min_value=2000, max_value=2100),
)
def test_nth_weekday_properties(nth, weekday, month, year):
    text = f"{nth} {weekday} {month}"
    rule = parse_rule(text)
    day = rule.occurrence(year)
    assert str(rule) == text
    assert day.month == rule.month
    assert day.weekday() == rule.weekday
    if nth in ("last", "5"):
        # Nothing of the same weekday follows in the month (a missing 5th -> the last).
        assert date.fromordinal(day.toordinal() + 7).month != rule.month
    else:
        assert (day.day - 1) // 7 + 1 == int(nth)


@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    n=st.integers(min_value=-30, max_value=30),
)
def test_working_day_helpers(day, n):
    prev, nxt = previous_working_day(day), next_working_day(day)
    assert is_working_day(prev) and is_working_day(nxt)
    assert prev <= day <= nxt
    if is_working_day(day):
        assert prev == day == nxt
    moved = add_working_days(day, n)
    if n:
        assert is_working_day(moved)
        assert (moved > day) == (n > 0)
        if is_working_day(day):
            assert add_working_days(moved, -n) == day
