"""The tag catalog every new database starts with: 11 industries, 2 holidays, 10 New-Year purchase months.

Rules are in the grammar of calendar.py. Industry and holiday offers go out three weeks
ahead of the day; month offers on the first working day of the month.
"""

from __future__ import annotations

from sqlalchemy import select

from .models import Tag, TagKind

INDUSTRY_LEAD_DAYS = 21
HOLIDAY_LEAD_DAYS = 21

# (name, kind, rule, lead_days, description)
TAGS: list[tuple[str, TagKind, str, int, str]] = [
    ("Айти", TagKind.INDUSTRY, "day 256", INDUSTRY_LEAD_DAYS, "IT, программисты, дизайнеры; День программиста"),
    (
        "Автотранспорт",
        TagKind.INDUSTRY,
        "last sun oct",
        INDUSTRY_LEAD_DAYS,
        "автосалоны, транспортные компании, логисты; День автомобилиста",
    ),
    ("Железнодорожники", TagKind.INDUSTRY, "1 sun aug", INDUSTRY_LEAD_DAYS, "День железнодорожника"),
    ("Медики", TagKind.INDUSTRY, "3 sun jun", INDUSTRY_LEAD_DAYS, "День медицинского работника"),
    (
        "Моряки",
        TagKind.INDUSTRY,
        "1 sun jul",
        INDUSTRY_LEAD_DAYS,
        "морской транспорт, международные перевозки; День работников морского и речного флота",
    ),
    ("Нефтяники", TagKind.INDUSTRY, "1 sun sep", INDUSTRY_LEAD_DAYS, "День работников нефтяной и газовой промышленности"),
    (
        "Промышленность",
        TagKind.INDUSTRY,
        "last sun sep",
        INDUSTRY_LEAD_DAYS,
        "металлурги, машиностроение, химики, полиграфия, пищевка, ЦБК; День машиностроителя",
    ),
    ("Строители", TagKind.INDUSTRY, "2 sun aug", INDUSTRY_LEAD_DAYS, "дома, дорожное строительство, риэлторы; День строителя"),
    (
        "Торговля",
        TagKind.INDUSTRY,
        "4 sat jul",
        INDUSTRY_LEAD_DAYS,
        "розничная и оптовая торговля, дистрибуторы; День работников торговли",
    ),
    ("Финансы", TagKind.INDUSTRY, "8 sep", INDUSTRY_LEAD_DAYS, "банки, страховщики, инвестиции, лизинг; День финансиста"),
    ("Энергетики", TagKind.INDUSTRY, "22 dec", INDUSTRY_LEAD_DAYS, "День энергетика"),
    ("23 февраля", TagKind.HOLIDAY, "23 feb", HOLIDAY_LEAD_DAYS, "День защитника Отечества"),
    ("8 марта", TagKind.HOLIDAY, "8 mar", HOLIDAY_LEAD_DAYS, "Международный женский день"),
] + [
    (name, TagKind.MONTH, f"workday1 {code}", 0, "месяц закупки подарков к Новому году")
    for name, code in [
        ("Март", "mar"),
        ("Апрель", "apr"),
        ("Май", "may"),
        ("Июнь", "jun"),
        ("Июль", "jul"),
        ("Август", "aug"),
        ("Сентябрь", "sep"),
        ("Октябрь", "oct"),
        ("Ноябрь", "nov"),
        ("Декабрь", "dec"),
    ]
]


def seed_tags(session) -> int:
    """Insert the catalog's tags that are missing (by name). Returns how many were added."""
    existing = set(session.scalars(select(Tag.name)))
    added = 0
    for name, kind, rule, lead, description in TAGS:
        if name not in existing:
            session.add(Tag(name=name, kind=kind, rule=rule, lead_days=lead, description=description))
            added += 1
    session.flush()
    return added
