"""The API's mail and its outcome: deliveries, human clicks, the hot list, results."""

from __future__ import annotations

from flask import request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import hotlist, replies, reports
from ...config import current_settings
from ...db import db
from ...models import Click, Delivery, DeliveryStatus, Role, Verdict
from .. import params
from ..openapi import spec
from .base import (
    WRITERS,
    CursorQuery,
    api_user,
    bp,
    errors_for,
    iso,
    keyset_page,
    out,
    require_roles,
    visible_ids,
)

# ------------------------------------------------------------------ deliveries and clicks


class DeliveryOut(BaseModel):
    id: int
    contact_id: int
    offer_id: int
    offer_subject: str
    advisor_id: int | None
    status: str
    send_on: str | None
    sent_at: str | None
    attempts: int
    last_error: str | None
    updated_at: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryQuery(CursorQuery):
    contact: int | None = Field(None, description="Номер контакта")
    offer: int | None = Field(None, description="Номер предложения")
    status: str | None = Field(None, description="planned, held, queued, sending, retrying, sent, failed, unknown, cancelled")


def _delivery_json(d: Delivery) -> dict:
    return {
        "id": d.id,
        "contact_id": d.contact_id,
        "offer_id": d.offer_id,
        "offer_subject": d.offer.subject,
        "advisor_id": d.advisor_id,
        "status": d.status.value,
        "send_on": iso(d.send_on),
        "sent_at": iso(d.sent_at),
        "attempts": d.attempts,
        "last_error": d.last_error,
        "updated_at": iso(d.updated_at),
    }


@bp.get("/deliveries")
@spec.validate(query=DeliveryQuery, resp=errors_for(HTTP_200=DeliveryPage), tags=["deliveries"], skip_validation=True)
def list_deliveries():
    """Письма контактов, которых видит пользователь: по контакту, по предложению, по статусу"""
    query = select(Delivery).options(selectinload(Delivery.offer)).where(Delivery.contact_id.in_(visible_ids()))
    if contact_id := params.record_id("contact"):
        query = query.where(Delivery.contact_id == contact_id)
    if offer_id := params.record_id("offer"):
        query = query.where(Delivery.offer_id == offer_id)
    if status := request.args.get("status"):
        if status not in {s.value for s in DeliveryStatus}:
            raise params.BadParameter("status", "Неизвестный статус письма: " + ", ".join(s.value for s in DeliveryStatus))
        query = query.where(Delivery.status == status)
    rows, next_cursor = keyset_page(query, Delivery.id)
    return out(DeliveryPage, {"items": [_delivery_json(d) for d in rows], "next_cursor": next_cursor})


class ClickOut(BaseModel):
    id: int
    contact_id: int
    delivery_id: int
    offer_id: int
    link: str | None
    url: str | None
    clicked_at: str | None


class ClickPage(BaseModel):
    items: list[ClickOut]
    next_cursor: str | None


class ClickQuery(CursorQuery):
    contact: int | None = None
    offer: int | None = None


@bp.get("/clicks")
@spec.validate(query=ClickQuery, resp=errors_for(HTTP_200=ClickPage), tags=["clicks"], skip_validation=True)
def list_clicks():
    """Клики людей (сканеры почтовых шлюзов отсеяны) по письмам контактов, которых видит пользователь"""
    query = (
        select(Click)
        .options(selectinload(Click.link), selectinload(Click.delivery))
        .where(Click.verdict == Verdict.HUMAN, Click.contact_id.in_(visible_ids()))
    )
    if contact_id := params.record_id("contact"):
        query = query.where(Click.contact_id == contact_id)
    if offer_id := params.record_id("offer"):
        query = query.where(Click.delivery_id.in_(select(Delivery.id).where(Delivery.offer_id == offer_id)))
    rows, next_cursor = keyset_page(query, Click.id)
    return out(
        ClickPage,
        {
            "items": [
                {
                    "id": c.id,
                    "contact_id": c.contact_id,
                    "delivery_id": c.delivery_id,
                    "offer_id": c.delivery.offer_id,
                    "link": c.link.name if c.link else None,
                    "url": c.link.url if c.link else None,
                    "clicked_at": iso(c.clicked_at),
                }
                for c in rows
            ],
            "next_cursor": next_cursor,
        },
    )


# ------------------------------------------------------------------ hot list


class HotLink(BaseModel):
    label: str
    count: int
    last_at: str | None


class HotOut(BaseModel):
    contact_id: int
    name: str
    company: str
    phone: str | None
    email: str | None
    score: float
    clicks: int
    last_click_at: str | None
    links: list[HotLink]


class HotList(BaseModel):
    items: list[HotOut]


class HotQuery(BaseModel):
    advisor: int | None = Field(None, description="Чей список (маркетинг и администратор); советник видит свой")


@bp.get("/hot")
@spec.validate(query=HotQuery, resp=errors_for(HTTP_200=HotList), tags=["hot"], skip_validation=True)
def hot():
    """Горячий список: кто из клиентов недавно кликал по ссылкам писем"""
    user = api_user()
    advisor_id = user.id if user.role == Role.ADVISOR else params.record_id("advisor")
    if advisor_id is None:
        raise params.BadParameter("advisor", "Укажите советника: ?advisor=<номер>")
    entries = hotlist.hot_list(db.session, advisor_id, current_settings())
    return out(
        HotList,
        {
            "items": [
                {
                    "contact_id": e.contact_id,
                    "name": e.name,
                    "company": e.company,
                    "phone": e.phone,
                    "email": e.email,
                    "score": e.score,
                    "clicks": e.clicks,
                    "last_click_at": iso(e.last_click_at),
                    "links": [{"label": link.label, "count": link.count, "last_at": iso(link.last_at)} for link in e.links],
                }
                for e in entries
            ]
        },
    )


# ------------------------------------------------------------------ results


class ResultOut(BaseModel):
    key: int
    label: str
    planned: int
    sent: int
    failed: int
    human_clicks: int
    bot_clicks: int
    clickers: int
    unsubscribes: int
    click_rate: float
    replies: int = Field(description="«Ответили»: письма, на которые клиент ответил (автоответы не в счёт)")


class Results(BaseModel):
    year: int | None
    offers: list[ResultOut]
    tags: list[ResultOut]
    advisors: list[ResultOut]


class ResultsQuery(BaseModel):
    year: int | None = None


def _rows(rows, replied: dict[int, int]) -> list[dict]:
    """The report's rows with the results page's «Ответили» (replies.reply_counts) beside each."""
    fields = [name for name in ResultOut.model_fields if name != "replies"]
    return [{**{name: getattr(r, name) for name in fields}, "replies": replied.get(r.key, 0)} for r in rows]


@bp.get("/results")
@spec.validate(query=ResultsQuery, resp=errors_for(HTTP_200=Results), tags=["results"], skip_validation=True)
def results():
    """Результаты по предложениям, тегам и советникам (маркетинг и администратор)"""
    require_roles(*WRITERS)
    year = params.year()
    return out(
        Results,
        {
            "year": year,
            "offers": _rows(reports.by_offer(db.session, year), replies.reply_counts(db.session, "offer", year)),
            "tags": _rows(reports.by_tag(db.session, year), replies.reply_counts(db.session, "tag", year)),
            "advisors": _rows(reports.by_advisor(db.session, year), replies.reply_counts(db.session, "advisor", year)),
        },
    )
