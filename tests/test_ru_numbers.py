"""Whole numbers and plurals read exactly as Babel's ru_RU writes them (the fast path the board's
thousands of figures take, #15)."""

from __future__ import annotations

from babel import Locale
from babel.numbers import format_decimal

from campaigns.ru_format import plural, ru_number

NUMBERS = [*range(0, 1200), 1234, 11_111, 21_000, 112_345, 980_000, 1_000_000, 12_345_678, -1, -1234, -21]


def test_whole_numbers_match_babel():
    for n in NUMBERS:
        assert ru_number(n) == format_decimal(n, locale="ru_RU"), n
    assert ru_number(None) == "0" and ru_number(1234.5) == "1\xa0234,5"


def test_plurals_match_cldr():
    ru = Locale.parse("ru_RU")
    for n in NUMBERS:
        expected = {"one": "письмо", "few": "письма"}.get(ru.plural_form(abs(n)), "писем")
        assert plural(n, "письмо", "письма", "писем") == f"{format_decimal(n, locale='ru_RU')} {expected}", n
