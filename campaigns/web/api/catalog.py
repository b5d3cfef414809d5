"""The API's offers, their links and catalog file: read by everyone, written by marketing and admin
with the offer editor's rules (offer_links.py, template_sandbox, offer_lint, offers.save_catalog)."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import abort, request
from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import clicks, offer_links, offer_lint, offers, template_sandbox
from ...config import current_settings
from ...db import db
from ...extensions import redis_client
from ...models import Link, Offer, OfferStatus, Tag
from .. import params
from ..openapi import spec
from ..problems import problem
from .base import (
    WRITERS,
    Body,
    CursorQuery,
    Invalid,
    Problem,
    body,
    bp,
    errors_for,
    iso,
    keyset_page,
    out,
    require_roles,
)

# ------------------------------------------------------------------ offers


class LinkOut(BaseModel):
    id: int
    name: str
    url: str
    label: str
    weight: int
    editable: bool = Field(True, description="false — ссылка загруженного каталога: её меняет только загрузка файла")


class OfferOut(BaseModel):
    id: int
    tag_id: int
    tag: str
    year: int
    subject: str
    body: str
    status: Literal["draft", "ready"]
    send_on: str | None
    ready_at: str | None
    updated_at: str | None
    links: list[LinkOut]
    problems: list[str] = Field(description="Что мешает предложению стать готовым (пусто — можно)")


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


class OfferQuery(CursorQuery):
    year: int | None = None
    tag: int | None = None


class NewOffer(Body):
    tag_id: int
    year: int


class OfferChange(Body):
    subject: StrictStr | None = None
    body: StrictStr | None = None
    status: Literal["draft", "ready"] | None = None


def _link_json(link: Link, *, editable: bool = True) -> dict:
    return {"id": link.id, "name": link.name, "url": link.url, "label": link.label, "weight": link.weight, "editable": editable}


def _offer_json(offer: Offer) -> dict:
    editable = offer_links.editable_links(offer)
    try:
        send_on = iso(offers.offer_send_date(offer))
    except Exception:  # noqa: BLE001 — a tag whose rule has no date that year
        send_on = None
    return {
        "id": offer.id,
        "tag_id": offer.tag_id,
        "tag": offer.tag.name,
        "year": offer.year,
        "subject": offer.subject,
        "body": offer.body,
        "status": offer.status.value,
        "send_on": send_on,
        "ready_at": iso(offer.ready_at),
        "updated_at": iso(offer.updated_at),
        "links": [_link_json(link, editable=link in editable) for link in offer.links if not link.is_trap],
        "problems": offer_lint.lint_offer(offer),
    }


def _offer_or_404(offer_id: int) -> Offer:
    offer = db.session.scalar(
        select(Offer).options(selectinload(Offer.links), selectinload(Offer.tag)).where(Offer.id == offer_id)
    )
    if offer is None:
        abort(404, description="Предложение не найдено")
    return offer


@bp.get("/offers")
@spec.validate(query=OfferQuery, resp=errors_for(HTTP_200=OfferPage), tags=["offers"], skip_validation=True)
def list_offers():
    """Предложения (все роли читают; писать — маркетинг и администратор)"""
    query = select(Offer).options(selectinload(Offer.links), selectinload(Offer.tag))
    if year := params.year():
        query = query.where(Offer.year == year)
    if tag_id := params.record_id("tag"):
        query = query.where(Offer.tag_id == tag_id)
    rows, next_cursor = keyset_page(query, Offer.id)
    return out(OfferPage, {"items": [_offer_json(o) for o in rows], "next_cursor": next_cursor})


@bp.get("/offers/<int:offer_id>")
@spec.validate(resp=errors_for(HTTP_200=OfferOut), tags=["offers"], skip_validation=True)
def get_offer(offer_id: int):
    """Одно предложение: тема, текст, ссылки, замечания"""
    return out(OfferOut, _offer_json(_offer_or_404(offer_id)))


@bp.post("/offers")
@spec.validate(json=NewOffer, resp=errors_for(HTTP_201=OfferOut), tags=["offers"], skip_validation=True)
def create_offer():
    """Предложение тега на год (черновик — копия прошлогоднего; если уже есть — оно само)"""
    require_roles(*WRITERS)
    data = body(NewOffer)
    tag = db.session.get(Tag, data.tag_id) if 0 < data.tag_id <= params.MAX_ID else None
    if tag is None:
        raise Invalid({"tag_id": "Нет такого тега"})
    if not params.FIRST_YEAR <= data.year <= params.LAST_YEAR:
        raise Invalid({"year": f"Год — от {params.FIRST_YEAR} до {params.LAST_YEAR}"})
    offer = offers.offer_for(db.session, tag, data.year)
    db.session.commit()
    return out(OfferOut, _offer_json(_offer_or_404(offer.id)), 201)


@bp.patch("/offers/<int:offer_id>")
@spec.validate(json=OfferChange, resp=errors_for(HTTP_200=OfferOut, HTTP_422=Problem), tags=["offers"], skip_validation=True)
def update_offer(offer_id: int):
    """Тема, текст и статус предложения (готовым оно станет только без замечаний — иначе 422 с ними)"""
    require_roles(*WRITERS)
    offer = _offer_or_404(offer_id)
    data = body(OfferChange)
    errors = {
        name: problem_
        for name in ("subject", "body")
        if getattr(data, name) is not None and (problem_ := template_sandbox.check_template(getattr(data, name)))
    }
    if data.subject is not None and len(data.subject) > 300:
        errors["subject"] = "Тема — не длиннее 300 символов"
    if errors:
        raise Invalid(errors)
    if data.subject is not None:
        offer.subject = data.subject.strip()
    if data.body is not None:
        offer.body = data.body.replace("\r\n", "\n")
    if data.status == "draft":
        offers.mark_draft(offer)
    elif data.status == "ready" or offer.status == OfferStatus.READY:
        if problems := offers.mark_ready(offer):  # lint; ready only when clean
            if offer.status == OfferStatus.READY:
                offers.mark_draft(offer)  # as the editor does: a ready offer with problems goes back to draft
            db.session.commit()
            return problem(
                422,
                "Предложение не может быть готовым, пока есть замечания: " + " ".join(problems),
                errors={"status": " ".join(problems)},
            )
    db.session.commit()
    clicks.publish_link_targets(db.session, redis_client(), offer_id=offer.id)
    return out(OfferOut, _offer_json(offer))


# ------------------------------------------------------------------ links and the catalog file


class LinkList(BaseModel):
    items: list[LinkOut]


class LinkIn(Body):
    id: StrictInt | None = Field(None, description="Номер ссылки, которую надо оставить и изменить; без него — новая")
    name: StrictStr = Field(description="Имя для шаблона: {{ links.<имя> }} (латинские строчные, цифры, _)")
    url: StrictStr
    label: StrictStr = ""
    weight: StrictInt = 1


class LinksChange(Body):
    links: Annotated[list[LinkIn], Field(max_length=50)] = Field(
        description="Все ссылки предложения: не названные здесь удаляются (кроме тех, по которым уже переходили)"
    )


@bp.get("/offers/<int:offer_id>/links")
@spec.validate(resp=errors_for(HTTP_200=LinkList), tags=["offers"], skip_validation=True)
def list_links(offer_id: int):
    """Ссылки предложения (ссылка загруженного каталога — с editable: false)"""
    offer = _offer_or_404(offer_id)
    editable = offer_links.editable_links(offer)
    return out(LinkList, {"items": [_link_json(link, editable=link in editable) for link in offer.links if not link.is_trap]})


@bp.put("/offers/<int:offer_id>/links")
@spec.validate(json=LinksChange, resp=errors_for(HTTP_200=OfferOut), tags=["offers"], skip_validation=True)
def replace_links(offer_id: int):
    """Заменить ссылки предложения, как в редакторе (маркетинг и администратор)

    Ошибки — по полям: `links[0].name`, `links[1].url`…; ссылку, по которой уже переходили, удалить нельзя.
    Готовое предложение с замечаниями после правки возвращается в черновик, как в редакторе.
    """
    require_roles(*WRITERS)
    offer = _offer_or_404(offer_id)
    data = body(LinksChange)
    rows = [
        offer_links.LinkRow(id=row.id, name=row.name, url=row.url, label=row.label, weight=str(row.weight)) for row in data.links
    ]
    try:
        offer_links.replace_links(db.session, offer, rows)
    except offer_links.LinksRefused as refused:
        db.session.rollback()
        errors = {f"links[{i}].{field}": message for i, fields in refused.rows.items() for field, message in fields.items()}
        if refused.general:
            errors["links"] = " ".join(refused.general)
        raise Invalid(errors) from None
    if offer.status == OfferStatus.READY and offer_lint.lint_offer(offer):
        offers.mark_draft(offer)  # as the editor does: a ready offer with problems goes back to draft
    db.session.commit()
    clicks.publish_link_targets(db.session, redis_client(), offer_id=offer.id)
    return out(OfferOut, _offer_json(_offer_or_404(offer.id)))


@bp.post("/offers/<int:offer_id>/catalog")
@spec.validate(resp=errors_for(HTTP_200=OfferOut), tags=["offers"], skip_validation=True)
def upload_catalog(offer_id: int):
    """Загрузить каталог предложения (PDF до 50 МБ; multipart/form-data, поле file): {{ catalog }} в шаблоне"""
    require_roles(*WRITERS)
    offer = _offer_or_404(offer_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid({"file": "Передайте PDF-файл в поле file (multipart/form-data)"})
    try:
        offers.save_catalog(offer, upload.stream, upload.filename, current_settings())
    except offers.CatalogError as exc:
        db.session.rollback()
        raise Invalid({"file": str(exc)}) from None
    db.session.commit()
    clicks.publish_link_targets(db.session, redis_client(), offer_id=offer.id)
    return out(OfferOut, _offer_json(_offer_or_404(offer.id)))
