"""The API's other objects (#19), on the /api blueprint of api.py and with its rules: tags,
offers (read by everyone, written by marketing and admin), deliveries and human clicks (of the
contacts the caller sees), the hot list, results, the stop list, contact consent and imports.

Every rule is the domain's: who sees a contact is contacts.visible_contacts /
get_visible_contact, a call is calls.log_call, unsubscribing is consent.*, offers go through
offers.offer_for / mark_ready, template_sandbox.check_template, offer_lint.lint_offer, imports through the very
functions the import page uses (web/imports.begin_upload / begin_commit, import_jobs.run_step).
"""

from __future__ import annotations

from typing import Literal

from flask import abort, request
from pydantic import BaseModel, Field, StrictBool, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import clicks, consent, contacts, hotlist, import_jobs, offer_lint, offers, reports, template_sandbox
from ..config import current_settings
from ..db import db
from ..extensions import redis_client
from ..import_check import ImportOptions
from ..models import (
    Click,
    Contact,
    Delivery,
    DeliveryStatus,
    Offer,
    OfferStatus,
    Role,
    Suppression,
    SuppressionReason,
    Tag,
    Verdict,
)
from . import imports as import_pages
from . import params
from .api import (
    ContactOut,
    CursorQuery,
    Invalid,
    Problem,
    _Body,
    _iso,
    _user,
    body,
    consent_json,
    contact_json,
    editable_or_403,
    errors_for,
    keyset_page,
    out,
)
from .api import (
    bp as api_bp,
)
from .openapi import spec
from .problems import problem

WRITERS = (Role.MARKETING, Role.ADMIN)


def _roles(*roles: Role) -> None:
    if _user().role not in roles:
        abort(403)


def _visible_ids():
    """The ids of the contacts the caller sees (a subquery for IN): the contact list's own rule."""
    return contacts.visible_contacts(db.session, _user(), include_archived=True).with_only_columns(Contact.id)


# ------------------------------------------------------------------ tags


class TagOut(BaseModel):
    id: int
    name: str
    kind: str
    rule: str
    lead_days: int
    description: str


class TagList(BaseModel):
    items: list[TagOut]


@api_bp.get("/tags")
@spec.validate(resp=errors_for(HTTP_200=TagList), tags=["tags"], skip_validation=True)
def list_tags():
    """Теги: отрасли, праздники и месяцы новогодних закупок"""
    tags = db.session.scalars(select(Tag).order_by(Tag.name))
    return out(
        TagList,
        {
            "items": [
                {
                    "id": t.id,
                    "name": t.name,
                    "kind": t.kind.value,
                    "rule": t.rule,
                    "lead_days": t.lead_days,
                    "description": t.description,
                }
                for t in tags
            ]
        },
    )


# ------------------------------------------------------------------ offers


class LinkOut(BaseModel):
    id: int
    name: str
    url: str
    label: str
    weight: int


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


class NewOffer(_Body):
    tag_id: int
    year: int


class OfferChange(_Body):
    subject: StrictStr | None = None
    body: StrictStr | None = None
    status: Literal["draft", "ready"] | None = None


def _offer_json(offer: Offer) -> dict:
    try:
        send_on = _iso(offers.offer_send_date(offer))
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
        "ready_at": _iso(offer.ready_at),
        "updated_at": _iso(offer.updated_at),
        "links": [
            {"id": link.id, "name": link.name, "url": link.url, "label": link.label, "weight": link.weight}
            for link in offer.links
            if not link.is_trap
        ],
        "problems": offer_lint.lint_offer(offer),
    }


def _offer_or_404(offer_id: int) -> Offer:
    offer = db.session.scalar(
        select(Offer).options(selectinload(Offer.links), selectinload(Offer.tag)).where(Offer.id == offer_id)
    )
    if offer is None:
        abort(404, description="Предложение не найдено")
    return offer


@api_bp.get("/offers")
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


@api_bp.get("/offers/<int:offer_id>")
@spec.validate(resp=errors_for(HTTP_200=OfferOut), tags=["offers"], skip_validation=True)
def get_offer(offer_id: int):
    """Одно предложение: тема, текст, ссылки, замечания"""
    return out(OfferOut, _offer_json(_offer_or_404(offer_id)))


@api_bp.post("/offers")
@spec.validate(json=NewOffer, resp=errors_for(HTTP_201=OfferOut), tags=["offers"], skip_validation=True)
def create_offer():
    """Предложение тега на год (черновик — копия прошлогоднего; если уже есть — оно само)"""
    _roles(*WRITERS)
    data = body(NewOffer)
    tag = db.session.get(Tag, data.tag_id) if 0 < data.tag_id <= params.MAX_ID else None
    if tag is None:
        raise Invalid({"tag_id": "Нет такого тега"})
    if not params.FIRST_YEAR <= data.year <= params.LAST_YEAR:
        raise Invalid({"year": f"Год — от {params.FIRST_YEAR} до {params.LAST_YEAR}"})
    offer = offers.offer_for(db.session, tag, data.year)
    db.session.commit()
    return out(OfferOut, _offer_json(_offer_or_404(offer.id)), 201)


@api_bp.patch("/offers/<int:offer_id>")
@spec.validate(json=OfferChange, resp=errors_for(HTTP_200=OfferOut, HTTP_422=Problem), tags=["offers"], skip_validation=True)
def update_offer(offer_id: int):
    """Тема, текст и статус предложения (готовым оно станет только без замечаний — иначе 422 с ними)"""
    _roles(*WRITERS)
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
        "send_on": _iso(d.send_on),
        "sent_at": _iso(d.sent_at),
        "attempts": d.attempts,
        "last_error": d.last_error,
        "updated_at": _iso(d.updated_at),
    }


@api_bp.get("/deliveries")
@spec.validate(query=DeliveryQuery, resp=errors_for(HTTP_200=DeliveryPage), tags=["deliveries"], skip_validation=True)
def list_deliveries():
    """Письма контактов, которых видит пользователь: по контакту, по предложению, по статусу"""
    query = select(Delivery).options(selectinload(Delivery.offer)).where(Delivery.contact_id.in_(_visible_ids()))
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


@api_bp.get("/clicks")
@spec.validate(query=ClickQuery, resp=errors_for(HTTP_200=ClickPage), tags=["clicks"], skip_validation=True)
def list_clicks():
    """Клики людей (сканеры почтовых шлюзов отсеяны) по письмам контактов, которых видит пользователь"""
    query = (
        select(Click)
        .options(selectinload(Click.link), selectinload(Click.delivery))
        .where(Click.verdict == Verdict.HUMAN, Click.contact_id.in_(_visible_ids()))
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
                    "clicked_at": _iso(c.clicked_at),
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


@api_bp.get("/hot")
@spec.validate(query=HotQuery, resp=errors_for(HTTP_200=HotList), tags=["hot"], skip_validation=True)
def hot():
    """Горячий список: кто из клиентов недавно кликал по ссылкам писем"""
    user = _user()
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
                    "last_click_at": _iso(e.last_click_at),
                    "links": [{"label": link.label, "count": link.count, "last_at": _iso(link.last_at)} for link in e.links],
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


class Results(BaseModel):
    year: int | None
    offers: list[ResultOut]
    tags: list[ResultOut]
    advisors: list[ResultOut]


class ResultsQuery(BaseModel):
    year: int | None = None


def _rows(rows) -> list[dict]:
    return [{**{name: getattr(r, name) for name in ResultOut.model_fields}} for r in rows]


@api_bp.get("/results")
@spec.validate(query=ResultsQuery, resp=errors_for(HTTP_200=Results), tags=["results"], skip_validation=True)
def results():
    """Результаты по предложениям, тегам и советникам (маркетинг и администратор)"""
    _roles(*WRITERS)
    year = params.year()
    return out(
        Results,
        {
            "year": year,
            "offers": _rows(reports.by_offer(db.session, year)),
            "tags": _rows(reports.by_tag(db.session, year)),
            "advisors": _rows(reports.by_advisor(db.session, year)),
        },
    )


# ------------------------------------------------------------------ consent and the stop list


class Unsubscribe(_Body):
    how: Literal["по телефону", "письмом", "при встрече"] | None = None
    reason: StrictStr = ""


class ConsentResult(BaseModel):
    changed: bool
    contact: ContactOut
    consent: dict


@api_bp.post("/contacts/<int:contact_id>/unsubscribe")
@spec.validate(json=Unsubscribe, resp=errors_for(HTTP_200=ConsentResult), tags=["contacts"], skip_validation=True)
def unsubscribe(contact_id: int):
    """Отписать контакт по его просьбе (телефон, письмо, встреча): стоп-лист и отмена писем"""
    contact = editable_or_403(contact_id)
    data = body(Unsubscribe)
    changed = consent.unsubscribe_by_advisor(db.session, _user(), contact, how=data.how or "", reason=data.reason)
    db.session.commit()
    return out(ConsentResult, {"changed": changed, "contact": contact_json(contact), "consent": consent_json(contact)})


class StopEntry(BaseModel):
    id: int
    email: str
    reason: str
    detail: str
    created_at: str | None


class StopPage(BaseModel):
    items: list[StopEntry]
    next_cursor: str | None


class StopQuery(CursorQuery):
    email: str | None = None


class NewStop(_Body):
    email: StrictStr
    reason: StrictStr = Field(description="Почему адрес исключён (обязательно)")


class RemoveStop(_Body):
    reason: StrictStr = Field(description="Почему адрес снова можно использовать (обязательно)")


def _stop_json(s: Suppression) -> dict:
    return {"id": s.id, "email": s.email, "reason": s.reason.value, "detail": s.detail, "created_at": _iso(s.created_at)}


@api_bp.get("/stoplist")
@spec.validate(query=StopQuery, resp=errors_for(HTTP_200=StopPage), tags=["stoplist"], skip_validation=True)
def stop_list():
    """Стоп-лист: адреса, на которые не уходит ни одно письмо (маркетинг и администратор)"""
    _roles(*WRITERS)
    query = select(Suppression)
    if email := request.args.get("email", "").strip().lower():
        query = query.where(Suppression.email == email)
    rows, next_cursor = keyset_page(query, Suppression.id)
    return out(StopPage, {"items": [_stop_json(s) for s in rows], "next_cursor": next_cursor})


@api_bp.post("/stoplist")
@spec.validate(json=NewStop, resp=errors_for(HTTP_201=StopEntry), tags=["stoplist"], skip_validation=True)
def add_stop():
    """Внести адрес в стоп-лист с причиной; запланированные письма на него отменяются"""
    _roles(*WRITERS)
    data = body(NewStop)
    email = data.email.strip().lower()
    errors = {}
    if "@" not in email or len(email) > 254 or any(ch.isspace() for ch in email):
        errors["email"] = "Неверный адрес эл. почты"
    if not data.reason.strip():
        errors["reason"] = "Укажите причину"
    if errors:
        raise Invalid(errors)
    consent.suppress(db.session, email, SuppressionReason.MANUAL, " ".join(data.reason.split()), author_id=_user().id)
    db.session.commit()
    entry = db.session.scalars(select(Suppression).where(Suppression.email == email)).one()
    return out(StopEntry, _stop_json(entry), 201)


@api_bp.delete("/stoplist/<int:entry_id>")
@spec.validate(json=RemoveStop, resp=errors_for(HTTP_200=StopEntry, HTTP_409=Problem), tags=["stoplist"], skip_validation=True)
def remove_stop(entry_id: int):
    """Убрать адрес из стоп-листа с причиной (администратор; отписку и жалобу — нельзя)"""
    _roles(Role.ADMIN)
    data = body(RemoveStop)
    entry = db.session.get(Suppression, entry_id)
    if entry is None:
        abort(404, description="Такого адреса в стоп-листе нет")
    if not data.reason.strip():
        raise Invalid({"reason": "Укажите причину"})
    try:
        consent.unsuppress(db.session, _user(), entry, " ".join(data.reason.split()))
    except consent.StopListKept as exc:
        db.session.rollback()
        return problem(409, str(exc), errors={"reason": str(exc)})
    db.session.commit()
    return out(StopEntry, _stop_json(entry))


# ------------------------------------------------------------------ imports


class ImportOut(BaseModel):
    id: str
    status: str = Field(description="previewing, previewed, committing, done, failed")
    phase: str | None = None
    done: int | None = None
    total: int | None = None
    error: str | None = None
    counts: dict[str, int] | None = Field(None, description="Предпросмотр: сколько строк новых, дублей, с ошибками")
    rows: list[dict] | None = Field(None, description="Предпросмотр: проблемные строки и часть новых")
    result: dict | None = Field(None, description="После записи: created, duplicates, errors")


class CommitImport(_Body):
    skip_errors: StrictBool = False


def _import_json(import_id: str, state: dict | None) -> dict:
    state = state or {}
    preview = state.get("preview") or {}
    return {
        "id": import_id,
        **{k: state.get(k) for k in ("status", "phase", "done", "total", "error", "result")},
        "counts": preview.get("counts"),
        "rows": preview.get("rows"),
    }


def _import_or_404(import_id: str) -> dict:
    try:
        return import_pages.state_or_404(import_id)
    except Exception as exc:
        if getattr(exc, "code", None) == 404:
            abort(404, description="Импорт не найден или устарел")
        raise


@api_bp.post("/imports")
@spec.validate(resp=errors_for(HTTP_202=ImportOut), tags=["imports"], skip_validation=True)
def upload_import():
    """Загрузить файл CSV или XLSX (multipart/form-data, поле file): начинается проверка

    Администратор может передать owner_id (чьими станут новые контакты) и use_owner_column=1.
    """
    user = _user()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid({"file": "Передайте файл в поле file (multipart/form-data)"})
    if not upload.filename.lower().endswith((".csv", ".txt", ".xlsx")):
        raise Invalid({"file": "Подойдёт файл .csv или .xlsx"})
    owner_id = params.record_id("owner_id", request.form) if user.role == Role.ADMIN else None
    options = ImportOptions(
        user_id=user.id,
        owner_id=owner_id,
        use_owner_column=bool(user.role == Role.ADMIN and request.form.get("use_owner_column") in ("1", "true")),
    )
    import_id, error = import_pages.begin_upload(upload, options)
    if error or import_id is None:
        raise Invalid({"file": error or "Файл не принят"})
    return out(ImportOut, _import_json(import_id, import_jobs.load_state(redis_client(), import_id)), 202)


@api_bp.get("/imports/<import_id>")
@spec.validate(resp=errors_for(HTTP_200=ImportOut), tags=["imports"], skip_validation=True)
def import_status(import_id: str):
    """Состояние импорта: проверка, предпросмотр, запись, итог"""
    return out(ImportOut, _import_json(import_id, _import_or_404(import_id)))


@api_bp.post("/imports/<import_id>/commit")
@spec.validate(json=CommitImport, resp=errors_for(HTTP_202=ImportOut, HTTP_409=Problem), tags=["imports"], skip_validation=True)
def commit_import(import_id: str):
    """Записать проверенный импорт (skip_errors: пропустить строки с ошибками)"""
    state = _import_or_404(import_id)
    data = body(CommitImport) if request.get_data() else CommitImport()
    if not import_pages.begin_commit(import_id, state, data.skip_errors):
        return problem(409, "Этот импорт ещё проверяется, уже выполняется или завершён.", errors={"status": state["status"]})
    return out(ImportOut, _import_json(import_id, import_jobs.load_state(redis_client(), import_id)), 202)
