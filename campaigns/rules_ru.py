"""Tag rules in Russian, as people say them: «3-е воскресенье июня», «первый рабочий день марта»,
«22 декабря», «256-й день года»; and the lead time: «за 21 день, на предыдущий рабочий день».

The database keeps calendar.py's short grammar («3 sun jun»); marketing never has to type it.
`parse` reads either form (and returns the Rule and, when the text names one, the lead time);
`describe` and `describe_lead` say a rule and its lead time in Russian.
"""

from __future__ import annotations

import re

from .calendar import MONTHS, Rule, parse_rule
from .ru_format import plural

__all__ = ["EXAMPLES", "describe", "describe_lead", "parse"]

EXAMPLES = (
    "«3-е воскресенье июня», «последнее воскресенье сентября», «22 декабря», «первый рабочий день марта», «256-й день года»"
)
_WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_MONTH_WORDS = {
    **{word: i for i, word in enumerate(_MONTHS_GENITIVE)},
    **{
        word: i
        for i, word in enumerate(
            ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь")
        )
    },
    **{word: i for i, word in enumerate(("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"))},
}
# (the form after an ordinal, e.g. «3-е воскресенье»; the accusative one may type: «в 3-ю среду»)
_WEEKDAYS = (
    ("понедельник", "й"),
    ("вторник", "й"),
    ("среда", "я"),
    ("четверг", "й"),
    ("пятница", "я"),
    ("суббота", "я"),
    ("воскресенье", "е"),
)
_WEEKDAY_WORDS = {
    **{name: i for i, (name, _end) in enumerate(_WEEKDAYS)},
    "среду": 2,
    "пятницу": 4,
    "субботу": 5,
    **{short: i for i, short in enumerate(("пн", "вт", "ср", "чт", "пт", "сб", "вс"))},
}
_ORDINAL_STEMS = {"перв": 1, "втор": 2, "трет": 3, "четвёрт": 4, "четверт": 4, "пят": 5, "последн": -1}
_ORDINAL_WORDS = {
    1: ("первый", "первая", "первое"),
    2: ("второй", "вторая", "второе"),
    3: ("третий", "третья", "третье"),
    4: ("четвёртый", "четвёртая", "четвёртое"),
    5: ("пятый", "пятая", "пятое"),
    -1: ("последний", "последняя", "последнее"),
}

_LEAD = re.compile(r"за\s+(\d{1,3})\s+(?:календарн\w*\s+)?(?:день|дн\w*)|в\s+сам\s+день|в\s+тот\s+же\s+день")
_ORDINAL_NUMBER = re.compile(r"(\d{1,3})(?:-?(?:е|й|я|го|ое|ий|ая|ой|ью|ю))?")


def _month(word: str) -> int | None:
    index = _MONTH_WORDS.get(word)
    if index is None and len(word) >= 3:
        index = _MONTH_WORDS.get(word[:3])
    return None if index is None else index + 1


def _ordinal(word: str) -> int | None:
    match = _ORDINAL_NUMBER.fullmatch(word)
    if match:
        return int(match.group(1))
    for stem, n in _ORDINAL_STEMS.items():
        if word.startswith(stem):
            return n
    return None


def _weekday(word: str) -> int | None:
    if word in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[word]
    for name, index in _WEEKDAY_WORDS.items():
        if len(name) > 3 and word[:4] == name[:4]:
            return index
    return None


def _bad(raw: str) -> ValueError:
    return ValueError(f"Непонятная дата «{raw}»: напишите, например, {EXAMPLES}")


def parse(text: str) -> tuple[Rule, int | None]:
    """(rule, lead days or None) from Russian («3-е воскресенье июня, за 21 день») or the short grammar."""
    raw = " ".join((text or "").split())
    lowered = raw.lower().replace("ё", "е").replace(",", " ").replace(".", " ")
    if not lowered.strip():
        raise ValueError(f"Укажите дату, например: {EXAMPLES}")
    lead = None
    found = _LEAD.search(lowered)
    if found:
        lead = int(found.group(1)) if found.group(1) else 0
        lowered = lowered[: found.start()] + " " + lowered[found.end() :]
    lowered = re.sub(r"на\s+предыдущ\w*\s+рабоч\w*\s+день|(?<!\w)в\s+(?=\d|перв|втор|трет|четв|пят|последн)", " ", lowered)
    words = lowered.split()
    if words and all(re.fullmatch(r"[a-z0-9]+", w) for w in words):
        return parse_rule(" ".join(words)), lead  # the short grammar: «3 sun jun», «workday1 mar»
    words = [w.replace("четвертый", "четвёртый") for w in words]
    # «первый рабочий день марта»
    if len(words) == 4 and words[1].startswith("рабоч") and words[2] == "день" and _ordinal(words[0]) == 1:
        month = _month(words[3])
        if month:
            return Rule(Rule.WORKDAY1, month=month), lead
    # «256-й день года», «день 256»
    if len(words) == 3 and words[1] == "день" and words[2] == "года" and _ordinal(words[0]):
        return parse_rule(f"day {_ordinal(words[0])}"), lead
    if len(words) == 2 and words[0] == "день" and words[1].isdigit():
        return parse_rule(f"day {words[1]}"), lead
    # «3-е воскресенье июня», «последнее воскресенье сентября»
    if len(words) == 3:
        nth, weekday, month = _ordinal(words[0]), _weekday(words[1]), _month(words[2])
        if nth is not None and weekday is not None and month:
            nth_text = "last" if nth == -1 else str(nth)
            return parse_rule(f"{nth_text} {_WEEKDAY_CODES[weekday]} {MONTHS[month - 1]}"), lead
    # «22 декабря»
    if len(words) == 2 and words[0].isdigit():
        month = _month(words[1])
        if month:
            try:
                return parse_rule(f"{int(words[0])} {MONTHS[month - 1]}"), lead
            except ValueError as exc:
                raise ValueError(_russian_error(str(exc), raw)) from None
    raise _bad(raw)


def _russian_error(message: str, raw: str) -> str:
    if "29" in raw and "феврал" in raw.lower():
        return "29 февраля бывает не каждый год: выберите другую дату"
    return f"В дате «{raw}» нет такого числа в этом месяце"


def describe(rule: str | Rule) -> str:
    """The rule in Russian: «3-е воскресенье июня», «22 декабря», «первый рабочий день марта»."""
    try:
        parsed = parse_rule(rule)
    except ValueError:
        return str(rule)
    month, weekday = parsed.month or 0, parsed.weekday or 0  # set by the rule's kind
    if parsed.kind == Rule.FIXED:
        return f"{parsed.day} {_MONTHS_GENITIVE[month - 1]}"
    if parsed.kind == Rule.DAY_OF_YEAR:
        return f"{parsed.day}-й день года"
    if parsed.kind == Rule.WORKDAY1:
        return f"первый рабочий день {_MONTHS_GENITIVE[month - 1]}"
    name, ending = _WEEKDAYS[weekday]
    nth = _ORDINAL_WORDS[-1][("й", "я", "е").index(ending)] if parsed.nth == -1 else f"{parsed.nth}-{ending}"
    return f"{nth} {name} {_MONTHS_GENITIVE[month - 1]}"


def describe_lead(lead_days: int | None, rule: str | Rule | None = None) -> str:
    """When the mail goes: «за 21 день, на предыдущий рабочий день» / «в сам день (или на предыдущий рабочий)»."""
    days = lead_days or 0
    if days == 0:
        try:
            if rule is not None and parse_rule(rule).kind == Rule.WORKDAY1:
                return "в сам день"
        except ValueError:
            pass
        return "в сам день, а если он выходной — на предыдущий рабочий день"

    return f"за {plural(days, 'день', 'дня', 'дней')}, а если это выходной — на предыдущий рабочий день"
