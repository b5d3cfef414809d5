"""Creating and changing a tag — the tags page and the API alike: its name (unique whatever its
case), its group (kind: отрасль, праздник, месяц закупки), its date rule (Russian, «3-е
воскресенье июня, за 21 день», or the short form; the database keeps the short one), lead days
and description. Errors are Russian, per field."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import rules_ru
from .models import Tag, TagKind

MAX_NAME = 100
MAX_DESCRIPTION = 300
MAX_LEAD = 120
DEFAULT_LEAD = 21


class TagError(ValueError):
    """The tag cannot be saved; .errors maps a field (name, kind, rule, lead_days, description) to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def parse_rule(text: str) -> tuple[str, int | None]:
    """(the rule's short form, the lead days it names or None); ValueError with a Russian message."""
    rule, lead = rules_ru.parse(text or "")
    return str(rule), lead


def lead_problem(raw: str | int | None) -> str | None:
    text = str(raw if raw is not None else "").strip()
    return None if text.isdigit() and 0 <= int(text) <= MAX_LEAD else f"Укажите целое число дней от 0 до {MAX_LEAD}."


NAME_TAKEN = "Тег с таким названием уже есть."


def name_problem(session: Session, name: str, tag: Tag | None) -> str | None:
    if not name:
        return "Введите название тега."
    if len(name) > MAX_NAME:
        return f"Название — не длиннее {MAX_NAME} символов."
    # Compared here, not with SQL lower(): SQLite lowers only ASCII, and «Строители» is not.
    others = session.scalars(select(Tag.name).where(Tag.id != (tag.id if tag else -1)))
    return NAME_TAKEN if name.casefold() in {other.casefold() for other in others} else None


def save_tag(
    session: Session,
    tag: Tag | None,
    *,
    name: str,
    kind: str,
    rule: str,
    lead_days: str | int | None,
    description: str = "",
) -> Tag:
    """Create (`tag` None) or change a tag from what a person typed; raise TagError, changing nothing,
    when a field is wrong. Lead days named in the rule («за 21 день») win over `lead_days`."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    description = (description or "").strip()
    if why := name_problem(session, name, tag):
        errors["name"] = why
    if kind not in {k.value for k in TagKind}:
        errors["kind"] = "Выберите вид тега: отрасль, праздник или месяц закупки."
    canonical, lead = "", None
    try:
        canonical, lead = parse_rule(rule)
    except ValueError as exc:
        errors["rule"] = str(exc)
    if lead is None and (why := lead_problem(lead_days)):
        errors["lead_days"] = why
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"Описание — не длиннее {MAX_DESCRIPTION} символов."
    if errors:
        raise TagError(errors)
    tag = tag or Tag()
    tag.name, tag.kind, tag.rule = name, TagKind(kind), canonical
    tag.lead_days = lead if lead is not None else int(str(lead_days).strip())
    tag.description = description
    session.add(tag)
    try:
        session.flush()
    except IntegrityError as exc:  # a colleague saved the same name between the check and now
        raise TagError({"name": NAME_TAKEN}) from exc
    return tag
