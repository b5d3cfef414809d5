"""An offer's links as marketing edits them — the offer editor and the API alike: what a name, an
address, a label and a weight may be, and which links may go (one a client already clicked stays).

The uploaded catalog's link is the upload's (offers.save_catalog) and trap links are click
tracking's: neither is edited here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import offer_lint
from .models import Click, Link, Offer
from .offers import CATALOG_LINK

NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
NAME_RULE = "Латинские строчные буквы, цифры и _, начиная с буквы."
MAX_LABEL = 200
MAX_WEIGHT = 100


@dataclass
class LinkRow:
    """One link as typed: `id` names an existing link to keep and change, None a new one."""

    id: int | None
    name: str
    url: str = ""
    label: str = ""
    weight: str = "1"


class LinksRefused(ValueError):
    """The rows cannot be saved: `rows` {row index: {field: message}}, `general` the rest."""

    def __init__(self, rows: dict[int, dict[str, str]], general: list[str]):
        super().__init__(" ".join([*general, *(m for fields in rows.values() for m in fields.values())]))
        self.rows = rows
        self.general = general


def editable_links(offer: Offer) -> list[Link]:
    """The links marketing types: not the traps, not the uploaded catalog's."""
    return [link for link in offer.links if not link.is_trap and not (offer.catalog_path and link.name == CATALOG_LINK)]


def name_problem(name: str) -> str | None:
    return None if not name or NAME.match(name) else NAME_RULE


def url_problem(url: str) -> str | None:
    why = offer_lint.url_problem(url)
    return why[:1].upper() + why[1:] + "." if why else None


def label_problem(label: str) -> str | None:
    return f"Подпись — не длиннее {MAX_LABEL} символов." if len(label or "") > MAX_LABEL else None


def weight_problem(raw: str) -> str | None:
    raw = (raw or "1").strip()
    return None if raw.isdigit() and 0 <= int(raw) <= MAX_WEIGHT else f"Вес — целое число от 0 до {MAX_WEIGHT}."


def _row_problems(offer: Offer, row: LinkRow, seen: set[str]) -> dict[str, str]:
    problems: dict[str, str] = {}
    name = row.name.strip()
    if not name:
        if row.url.strip():
            problems["name"] = "Дайте ссылке имя, например discount."
        return problems
    if why := name_problem(name):
        problems["name"] = why
    elif name in seen:
        problems["name"] = "Две ссылки с одним именем."
    elif name == CATALOG_LINK and offer.catalog_path:
        problems["name"] = "Имя catalog занято загруженным каталогом."
    seen.add(name)
    for field, why_not in (
        ("url", url_problem(row.url)),
        ("label", label_problem(row.label)),
        ("weight", weight_problem(row.weight)),
    ):
        if why_not:
            problems[field] = why_not
    return problems


def replace_links(session: Session, offer: Offer, rows: list[LinkRow]) -> None:
    """Make the offer's editable links the named rows (a row without a name is skipped): the
    rows' ids keep and change those links, the rest are new, links not named go — unless a client
    already clicked one. Raises LinksRefused and changes nothing when anything is wrong."""
    seen: set[str] = set()
    problems = {i: wrong for i, row in enumerate(rows) if (wrong := _row_problems(offer, row, seen))}
    existing = {link.id: link for link in editable_links(offer)}
    keep = {row.id for row in rows if row.name.strip() and row.id in existing}
    gone = [link for link_id, link in existing.items() if link_id not in keep]
    clicked = (
        set(session.scalars(select(Click.link_id).where(Click.link_id.in_([g.id for g in gone])).distinct())) if gone else set()
    )
    general = [f"Ссылку «{link.name}» нельзя удалить: по ней уже переходили клиенты." for link in gone if link.id in clicked]
    if problems or general:
        raise LinksRefused(problems, general)
    for link in gone:
        offer.links.remove(link)
    session.flush()  # free the names of removed links before reusing them
    for row in rows:
        if not row.name.strip():
            continue
        found = existing.get(row.id) if row.id is not None else None
        if found is None:
            found = Link()
            offer.links.append(found)
        link = found
        link.name, link.url = row.name.strip(), row.url.strip()
        link.label, link.weight = row.label.strip(), int((row.weight or "1").strip())
