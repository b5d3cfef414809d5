"""Tags as people choose them: grouped (отрасли, праздники, месяц закупки), each group in its natural
order — industries by name, holidays and purchase months in calendar order (March before April).

The demo's own tags (named «Демо: …», DEMO_PREFIX: the mailing `./run` prepares so that a newcomer
sees mail go out) are none of these: they form their own group, «Демо», after the others, instead
of passing for a holiday."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import calendar
from .models import Tag, TagKind

__all__ = ["DEMO_GROUP", "DEMO_PREFIX", "GROUPS", "grouped", "ordered"]

GROUPS = {TagKind.INDUSTRY: "Отрасли", TagKind.HOLIDAY: "Праздники", TagKind.MONTH: "Месяц закупки"}
DEMO_PREFIX = "Демо: "
DEMO_GROUP = "Демо"


def is_demo(tag: Tag) -> bool:
    return tag.name.startswith(DEMO_PREFIX)


def _when(tag: Tag) -> tuple:
    try:
        occurrence = calendar.parse_rule(tag.rule).occurrence(date.today().year)
        return (occurrence.month, occurrence.day)
    except ValueError:
        return (13, 0)


def ordered(session: Session) -> list[tuple[str, Tag]]:
    """(group label, tag) for every tag: industries, then holidays, then months, each in its order,
    then the demo's own tags."""
    tags = list(session.scalars(select(Tag)))
    rows: list = []
    for kind, label in GROUPS.items():
        group = [t for t in tags if t.kind == kind and not is_demo(t)]
        group.sort(key=(lambda t: t.name.lower()) if kind == TagKind.INDUSTRY else (lambda t: (_when(t), t.name)))
        rows.extend((label, t) for t in group)
    rows.extend((DEMO_GROUP, t) for t in sorted((t for t in tags if is_demo(t)), key=lambda t: t.name))
    return rows


def grouped(session: Session) -> list[tuple[str, list[Tag]]]:
    """[(group label, [tags])] in that order, empty groups left out."""
    out: list[tuple[str, list[Tag]]] = []
    for label, tag in ordered(session):
        if not out or out[-1][0] != label:
            out.append((label, []))
        out[-1][1].append(tag)
    return out
