"""Tag rules in Russian: read as people write them, shown as people say them; the short grammar still reads."""

from __future__ import annotations

import pytest

from campaigns import calendar, catalog, rules_ru


@pytest.mark.parametrize(
    ("text", "rule", "lead"),
    [
        ("3-е воскресенье июня", "3 sun jun", None),
        ("третье воскресенье июня", "3 sun jun", None),
        ("Последнее воскресенье сентября", "last sun sep", None),
        ("первый рабочий день марта", "workday1 mar", None),
        ("3 декабря", "3 dec", None),
        ("22 дек", "22 dec", None),
        ("256-й день года", "day 256", None),
        ("в 4-ю субботу июля", "4 sat jul", None),
        ("3-е воскресенье июня, за 21 день, на предыдущий рабочий день", "3 sun jun", 21),
        ("8 марта, за 7 дней", "8 mar", 7),
        ("2 sun aug", "2 sun aug", None),
        ("workday1 MAR", "workday1 mar", None),
    ],
)
def test_a_rule_is_read_in_russian_or_in_the_short_form(text, rule, lead):
    parsed, parsed_lead = rules_ru.parse(text)
    assert (str(parsed), parsed_lead) == (rule, lead)


@pytest.mark.parametrize("text", ["31 февраля", "29 февраля", "абв", "", "6-е воскресенье июня"])
def test_a_wrong_date_is_refused_in_russian(text):
    with pytest.raises(ValueError) as refused:
        rules_ru.parse(text)
    assert any("а" <= ch <= "я" for ch in str(refused.value).lower())


def test_every_catalog_rule_is_said_in_russian_and_read_back_the_same():
    for _name, _kind, rule, _lead, _description in catalog.TAGS:
        said = rules_ru.describe(rule)
        assert not any(code in said for code in ("sun", "workday", "day ")), said
        assert rules_ru.parse(said)[0] == calendar.parse_rule(rule)
    assert rules_ru.describe("3 sun jun") == "3-е воскресенье июня"
    assert rules_ru.describe("last sun sep") == "последнее воскресенье сентября"
    assert rules_ru.describe("workday1 mar") == "первый рабочий день марта"
    assert rules_ru.describe_lead(21) == "за 21 день, а если это выходной — на предыдущий рабочий день"
