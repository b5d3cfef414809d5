"""The API's tags: read by everyone; created and changed by marketing and admin through
tags.save_tag, the tags page's own function (the same checks, the same Russian messages)."""

from __future__ import annotations

from typing import Literal

from flask import abort
from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy import select

from ... import rules_ru, tag_groups, tags
from ...db import db
from ...models import Tag
from ..openapi import spec
from .base import UNKNOWN, WRITERS, Body, Invalid, body, bp, errors_for, out, require_roles

Kind = Literal["industry", "holiday", "month"]


class TagOut(BaseModel):
    id: int
    name: str
    kind: str = Field(description="industry (отрасль), holiday (праздник), month (месяц закупки)")
    group: str = Field(description="Группа, как на странице тегов: «Отрасли», «Праздники», «Месяц закупки»")
    rule: str = Field(description="Правило даты в краткой записи, например «3 sun jun»")
    rule_ru: str = Field(description="То же правило по-русски")
    lead_days: int
    description: str


class TagList(BaseModel):
    items: list[TagOut]


class NewTag(Body):
    name: StrictStr
    kind: Kind
    rule: StrictStr = Field(description="«3-е воскресенье июня, за 21 день», «22 декабря» или краткая запись «3 sun jun»")
    lead_days: StrictInt | None = Field(None, description="За сколько дней до даты отправлять (0–120; по умолчанию 21)")
    description: StrictStr = ""


class TagChange(Body):
    name: StrictStr | None = None
    kind: Kind | None = None
    rule: StrictStr | None = None
    lead_days: StrictInt | None = None
    description: StrictStr | None = None


UNKNOWN[NewTag] = UNKNOWN[TagChange] = "Неизвестное поле: name, kind, rule, lead_days, description"


def tag_json(tag: Tag) -> dict:
    try:
        rule_ru = rules_ru.describe(tag.rule)
    except ValueError:
        rule_ru = tag.rule
    return {
        "id": tag.id,
        "name": tag.name,
        "kind": tag.kind.value,
        "group": tag_groups.DEMO_GROUP if tag_groups.is_demo(tag) else tag_groups.GROUPS[tag.kind],
        "rule": tag.rule,
        "rule_ru": rule_ru,
        "lead_days": tag.lead_days,
        "description": tag.description,
    }


def _save(tag: Tag | None, fields: dict) -> Tag:
    try:
        return tags.save_tag(db.session, tag, **fields)
    except tags.TagError as exc:
        db.session.rollback()
        raise Invalid(exc.errors) from None


@bp.get("/tags")
@spec.validate(resp=errors_for(HTTP_200=TagList), tags=["tags"], skip_validation=True)
def list_tags():
    """Теги: отрасли, праздники и месяцы новогодних закупок"""
    return out(TagList, {"items": [tag_json(t) for t in db.session.scalars(select(Tag).order_by(Tag.name))]})


@bp.post("/tags")
@spec.validate(json=NewTag, resp=errors_for(HTTP_201=TagOut), tags=["tags"], skip_validation=True)
def create_tag():
    """Новый тег (маркетинг и администратор): название, вид, правило даты, за сколько дней отправлять"""
    require_roles(*WRITERS)
    data = body(NewTag)
    tag = _save(
        None,
        {
            "name": data.name,
            "kind": data.kind,
            "rule": data.rule,
            "lead_days": tags.DEFAULT_LEAD if data.lead_days is None else data.lead_days,
            "description": data.description,
        },
    )
    db.session.commit()
    return out(TagOut, tag_json(tag), 201)


@bp.patch("/tags/<int:tag_id>")
@spec.validate(json=TagChange, resp=errors_for(HTTP_200=TagOut), tags=["tags"], skip_validation=True)
def update_tag(tag_id: int):
    """Изменить тег (маркетинг и администратор; только переданные поля)"""
    require_roles(*WRITERS)
    tag = db.session.get(Tag, tag_id)
    if tag is None:
        abort(404, description="Тег не найден")
    data = body(TagChange)
    given = data.model_dump(exclude_unset=True)
    if any(value is None for value in given.values()):
        raise Invalid(
            {name: "Пустое значение: не передавайте поле, чтобы оставить его" for name, v in given.items() if v is None}
        )
    current = {
        "name": tag.name,
        "kind": tag.kind.value,
        "rule": tag.rule,
        "lead_days": tag.lead_days,
        "description": tag.description,
    }
    tag = _save(tag, {**current, **given})
    db.session.commit()
    return out(TagOut, tag_json(tag))
