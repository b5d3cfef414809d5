"""JSON API, with the web pages' rules: the same visibility (404 for a stranger's contact), the
same domain functions, errors as RFC 9457 problem documents (`application/problem+json`, a
Russian `detail`, and `errors` {field: message} for a field-by-field check).

Who is asking:
- an API key: `Authorization: Bearer ck_…` (apikeys.py) — acts with its user's role; no CSRF
  (nothing a browser sends on its own); a rate limit per key (429 with Retry-After);
- or the web log-in cookie, with the CSRF token in the X-CSRFToken header on writes.

Request bodies are checked against pydantic models first: the shape and the JSON types (a
name is a string, tags a list of names or ids, a flag true or false — nothing is coerced), so
a wrong type is a 400 naming the field and nothing is written. What the values may be
(lengths, e-mail, phone, dates, known tags) stays with the domain (contacts.clean_fields).
The same models describe the API in /api/openapi.json (openapi.py, spectree).

Lists go page by page: `next_cursor` (signed, opaque) comes back as `?cursor=`; a cursor that
was tampered with, or taken from a list with other filters, is a 400.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, abort, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from redis.exceptions import RedisError
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from .. import apikeys, calls, consent, contacts
from ..config import current_settings
from ..db import db
from ..extensions import csrf, login_manager, redis_client
from ..greeting import greeting, greeting_is_fallback
from ..models import Advisor, Contact, Note, Role
from . import params
from .openapi import spec
from .problems import detail_of, problem

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)  # checked in _authenticate: for the cookie path only


# ------------------------------------------------------------------ who is asking


def _bearer() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@bp.before_request
def _authenticate():
    token = _bearer()
    if token is not None:
        found = apikeys.user_for_token(db.session, token) if token else None
        if found is None:
            return problem(
                401,
                "Ключ API не подходит: он неизвестен, отозван или его владелец деактивирован. "
                "Передайте заголовок «Authorization: Bearer <ключ>».",
                headers={"WWW-Authenticate": 'Bearer realm="campaigns"'},
            )
        key, user = found
        try:
            wait = apikeys.RateLimit(
                redis_client(), current_app.config.get("API_RATE_PER_MINUTE", apikeys.DEFAULT_RATE_PER_MINUTE)
            ).hit(key.id)
        except RedisError:
            wait = 0  # the counter is gone for a moment; the request is not the one to pay for it
        if wait:
            return problem(
                429, f"Слишком много запросов с этим ключом. Повторите через {wait} с.", headers={"Retry-After": str(wait)}
            )
        g.api_key = key
        login_manager._update_request_context_with_user(user)
        return None
    if not current_user.is_authenticated:
        return problem(
            401,
            "Войдите в систему или передайте ключ API: «Authorization: Bearer <ключ>».",
            errors={"auth": "Войдите в систему"},
            headers={"WWW-Authenticate": 'Bearer realm="campaigns"'},
        )
    csrf.protect()  # the cookie path: a write carries X-CSRFToken
    return None


@bp.teardown_request
def _forget_key_user(_exc):
    # The key's user was this request's only: nothing of it may outlive the request (an app context
    # shared by several requests — a script's, a test's — would otherwise keep it in `g`).
    if g.pop("api_key", None) is not None:
        g.pop("_login_user", None)


def _user() -> Advisor:
    return current_user._get_current_object()


def _today():
    return datetime.now(current_settings().timezone).date()


# ------------------------------------------------------------------ errors


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` names the fields that were refused."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


class DuplicateMatch(BaseModel):
    contact_id: int
    owner_id: int | None
    owner_name: str | None
    reason: str
    detail: str
    score: float | int | None = None


class DuplicateProblem(Problem):
    matches: list[DuplicateMatch] = []
    can_confirm: bool = False


def errors_for(**responses) -> Response:
    """spectree responses: the given ones plus the problems every endpoint may answer."""
    return Response(HTTP_400=Problem, HTTP_401=Problem, HTTP_403=Problem, HTTP_404=Problem, HTTP_429=Problem, **responses)


@bp.errorhandler(CSRFError)
def _csrf_error(exc):
    return problem(
        400,
        "Нет или устарел токен CSRF: передайте заголовок X-CSRFToken (или войдите ключом API).",
        errors={"csrf": "Нет или устарел токен CSRF: передайте заголовок X-CSRFToken"},
    )


@bp.errorhandler(params.BadParameter)
def _bad_parameter(exc):
    return problem(400, exc.description, errors={exc.parameter: exc.description})


def _said(exc: HTTPException) -> str | None:
    """The Russian description a view gave to abort(), if any."""
    text = exc.description or ""
    return text if text != type(exc).description and re.search("[А-Яа-яЁё]", text) else None


@bp.errorhandler(404)
def _not_found(exc):
    message = _said(exc) or "Контакт не найден"
    return problem(404, message, errors={"id": message})


@bp.errorhandler(403)
def _forbidden(exc):
    return problem(403, _said(exc) or "Недостаточно прав", errors={"role": "Недостаточно прав"})


@bp.errorhandler(contacts.NotAllowed)
def _not_allowed(exc):
    db.session.rollback()
    return problem(403, str(exc), errors={"role": str(exc)})


@bp.errorhandler(contacts.ContactError)
def _invalid(exc):
    db.session.rollback()
    return problem(400, detail_of(exc.errors), errors=exc.errors)


@bp.errorhandler(contacts.DuplicateContact)
def _duplicate(exc):
    db.session.rollback()
    message = (
        "Контакт с этим адресом эл. почты уже есть"
        if exc.blocking
        else 'Похожий контакт уже есть; если это другой, повторите с "confirm_different": true'
    )
    matches = [
        {
            "contact_id": m.contact_id,
            "owner_id": m.owner_id,
            "owner_name": m.owner_name,
            "reason": m.reason,
            "detail": m.detail,
            "score": m.score,
        }
        for m in exc.matches
    ]
    return problem(409, message, errors={"duplicate": message}, matches=matches, can_confirm=not exc.blocking)


class Invalid(contacts.ContactError):
    """A refused value of any object (the same answer as a contact's: 400 with `errors`)."""


# ------------------------------------------------------------------ bodies, output, cursors

Text = StrictStr | None
TagRef = StrictInt | Annotated[StrictStr, Field(max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


_TYPE_MESSAGES = {
    "string_type": "Ожидается строка",
    "int_type": "Ожидается целое число",
    "bool_type": "Ожидается true или false",
    "list_type": "Ожидается список",
    "too_long": "Слишком длинно",
    "literal_error": "Недопустимое значение",
    "missing": "Обязательное поле",
}
_FIELD_MESSAGES = {
    "tags": 'Теги — список названий или номеров тегов, например ["Строители"]',
    "interest": "Интерес — true или false",
    "kind": 'Вид записи — "manual" или "call"',
}
_UNKNOWN: dict[type, str] = {}


def body(model: type[_Body]) -> Any:
    """The JSON body checked against `model` (the one the endpoint documents); a 400 per field otherwise."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid({"body": "Ожидается JSON-объект"})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "body"
            if error["type"] == "extra_forbidden":
                message = next((m for cls, m in _UNKNOWN.items() if issubclass(model, cls)), "Неизвестное поле")
            else:
                message = _FIELD_MESSAGES.get(name) or _TYPE_MESSAGES.get(error["type"], "Неверное значение")
            errors.setdefault(name, message)
        raise Invalid(errors) from None


def out(model: type[BaseModel], data: dict, status: int = 200):
    """A response through its documented model: what the API says is what /api/openapi.json describes.
    A field the model does not declare is a bug (it would vanish from the answer), not something to drop."""
    undeclared = set(data) - set(model.model_fields)
    if undeclared:
        raise RuntimeError(f"{model.__name__} does not declare {sorted(undeclared)}: add them to the model")
    return current_app.response_class(model.model_validate(data).model_dump_json(), status=status, mimetype="application/json")


def _cursor_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_settings().secret_key, salt="campaigns-api-cursor")


def _filters_fingerprint() -> str:
    items = sorted((k, v) for k, v in request.args.items(multi=True) if k not in ("cursor", "limit", "page"))
    return hashlib.sha256(json.dumps([request.path, items]).encode()).hexdigest()[:16]


def make_cursor(position) -> str:
    return _cursor_serializer().dumps({"f": _filters_fingerprint(), "p": position})


def read_cursor():
    """The position a `?cursor=` names, or None for the first page; a forged or foreign cursor is a 400."""
    raw = request.args.get("cursor", "")
    if not raw:
        return None
    try:
        data = _cursor_serializer().loads(raw)
    except BadSignature:
        raise params.BadParameter("cursor", "Неверный курсор: передайте next_cursor из предыдущего ответа как есть.") from None
    if not isinstance(data, dict) or data.get("f") != _filters_fingerprint():
        raise params.BadParameter("cursor", "Курсор от другого списка: фильтры нужно передать те же, что в первом запросе.")
    return data.get("p")


def limit(default: int = 50, high: int = 200) -> int:
    return params.integer("limit", low=1, high=high, what="Размер страницы (limit)") or default


def keyset_page(query, column, *, per_page: int | None = None) -> tuple[list, str | None]:
    """One page of `query`, newest first by `column` (an id), and the cursor of the next page."""
    per_page = per_page or limit()
    after = read_cursor()
    if after is not None:
        if not isinstance(after, int):
            raise params.BadParameter("cursor", "Неверный курсор: передайте next_cursor из предыдущего ответа как есть.")
        query = query.where(column < after)
    rows = list(db.session.scalars(query.order_by(column.desc()).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (make_cursor(rows[-1].id) if more and rows else None)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------ contacts


class Owner(BaseModel):
    id: int
    name: str


class ConsentOut(BaseModel):
    """The card's consent facts (consent.consent_facts)."""

    mailable: bool = Field(description="Рассылки к нему уходят: не отписан, не в стоп-листе, согласие записано")
    lacks_consent: bool = Field(description="Согласие (источник и дата) не записано, а без него писем нет")
    unsubscribed_at: str | None
    stopped: bool
    stop_reason: str | None = None
    stop_detail: str | None = None


class ContactOut(BaseModel):
    id: int
    first_name: str
    middle_name: str
    last_name: str
    company: str
    company_alias: str
    position: str
    email: str | None
    phone: str | None
    consent_source: str
    tags: list[str]
    tag_ids: list[int]
    owner: Owner
    next_contact_on: str | None
    next_contact_time: str | None = Field(None, description="Время следующего звонка, «11:30»")
    next_contact_topic: str | None = Field(None, description="О чём следующий звонок")
    consent_at: str | None
    unsubscribed_at: str | None
    archived_at: str | None
    updated_at: str | None
    greeting: str
    greeting_is_fallback: bool


class NoteOut(BaseModel):
    id: int
    kind: str
    body: str
    author: str | None
    result: str | None
    interest: bool | None
    objection: str | None
    next_contact_on: str | None
    subject: str | None
    created_at: str | None


class ContactCard(ContactOut):
    notes: list[NoteOut]
    consent: ConsentOut


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int  # counted up to 10,000
    total_more: bool = False  # more than total
    page: int
    pages: int
    per_page: int
    next_cursor: str | None


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None


def contact_json(contact: Contact) -> dict:
    return {
        "id": contact.id,
        **{
            name: getattr(contact, name)
            for name in (
                "first_name",
                "middle_name",
                "last_name",
                "company",
                "company_alias",
                "position",
                "email",
                "phone",
                "consent_source",
            )
        },
        "tags": [t.name for t in contact.tags],
        "tag_ids": [t.id for t in contact.tags],
        "owner": {"id": contact.owner.id, "name": contact.owner.name},
        "next_contact_on": _iso(contact.next_contact_on),
        "next_contact_time": contact.next_contact_time.strftime("%H:%M") if contact.next_contact_time else None,
        "next_contact_topic": contact.next_contact_topic,
        "consent_at": _iso(contact.consent_at),
        "unsubscribed_at": _iso(contact.unsubscribed_at),
        "archived_at": _iso(contact.archived_at),
        "updated_at": _iso(contact.updated_at),
        "greeting": greeting(contact.first_name, contact.middle_name),
        "greeting_is_fallback": greeting_is_fallback(contact.first_name, contact.middle_name),
    }


def consent_json(contact: Contact) -> dict:
    facts = consent.consent_facts(db.session, contact)
    stop = getattr(facts, "suppression", None)
    lacks = bool(getattr(facts, "lacks_consent", False))
    return {
        "mailable": facts.mailable and not lacks,
        "lacks_consent": lacks,
        "unsubscribed_at": _iso(contact.unsubscribed_at),
        "stopped": stop is not None,
        "stop_reason": stop.reason.value if stop is not None else None,
        "stop_detail": stop.detail if stop is not None else None,
    }


def note_json(note: Note) -> dict:
    return {
        "id": note.id,
        "kind": note.kind.value,
        "body": note.body,
        "author": note.author.name if note.author else None,
        "result": note.result,
        "interest": note.interest,
        "objection": note.objection,
        "next_contact_on": _iso(note.next_contact_on),
        "subject": note.subject,
        "created_at": _iso(note.created_at),
    }


class ContactFields(_Body):
    first_name: Text = None
    middle_name: Text = None
    last_name: Text = None
    company: Text = None
    company_alias: Text = None
    position: Text = None
    email: Text = None
    phone: Text = None
    tags: Annotated[list[TagRef], Field(max_length=100)] | None = None
    next_contact_on: Text = None
    consent_source: Text = None
    consent_at: Text = None
    confirm_different: StrictBool = False

    def fields(self) -> dict:
        """Only the fields the body names: an absent field is left as it is."""
        return {name: getattr(self, name) for name in contacts.FIELDS if name in self.model_fields_set}


class NewContact(ContactFields):
    owner_id: StrictInt | None = None  # admin only: whose contact it is


class NewNote(_Body):
    kind: Literal["manual", "call"] = "manual"
    body: Text = None
    result: Text = None
    interest: StrictBool | StrictStr | None = None  # true/false, or «да»/«нет» as the form sends it
    objection: Text = None
    next_contact_on: Text = None
    next_contact_time: Text = None  # "11:30"
    topic: Text = None


class ContactQuery(BaseModel):
    search: str | None = Field(None, description="Имя, компания (любое написание), эл. почта, телефон")
    tag: int | None = Field(None, description="Номер тега")
    owner: int | None = Field(None, description="Номер владельца (маркетинг и администратор)")
    today: bool | None = Field(None, description="Только те, кому звонить сегодня")
    not_worked_days: int | None = Field(None, description="Без работы столько дней")
    cursor: str | None = Field(None, description="next_cursor предыдущей страницы")
    page: int | None = Field(None, description="Номер страницы (вместо курсора)")


class CursorQuery(BaseModel):
    cursor: str | None = Field(None, description="next_cursor предыдущей страницы")
    limit: int | None = Field(None, description="Сколько на странице (1–200, по умолчанию 50)")


_UNKNOWN[ContactFields] = "Это поле нельзя изменить"


def contact_or_404(contact_id: int) -> Contact:
    """The contact if the caller may see it (contacts.get_visible_contact), else 404."""
    contact = contacts.get_visible_contact(db.session, _user(), contact_id)
    if contact is None:
        abort(404)
    return contact


def editable_or_403(contact_id: int) -> Contact:
    contact = contact_or_404(contact_id)
    if not contacts.can_edit(_user(), contact):
        abort(403)
    return contact


@bp.get("/contacts")
@spec.validate(query=ContactQuery, resp=errors_for(HTTP_200=ContactPage), tags=["contacts"], skip_validation=True)
def list_contacts():
    """Контакты, которые видит пользователь

    Советник — только свои, маркетинг и администратор — все. Старые по обновлению — первыми.
    """
    args = request.args
    position = read_cursor()
    keyset = (
        position
        if isinstance(position, list)
        and len(position) == 2
        and contacts.parse_cursor(position[0])
        and isinstance(position[1], int)
        and 1 <= position[1] <= params.MAX_PAGE
        else None
    )
    if position is not None and not keyset and not (isinstance(position, int) and 1 <= position <= params.MAX_PAGE):
        raise params.BadParameter("cursor", "Неверный курсор: передайте next_cursor из предыдущего ответа как есть.")
    page = contacts.contact_list(
        db.session,
        _user(),
        search=args.get("search", args.get("q", ""))[:200],
        tag_id=params.record_id("tag"),
        owner_id=params.record_id("owner"),
        call_today=args.get("today") in ("1", "true"),
        not_worked_days=params.days("not_worked_days"),
        today=_today(),
        page=keyset[1] if keyset else (position or params.page()),
        after=keyset[0] if keyset else None,
    )
    # The next page continues from this one's last row (contacts.cursor: keyset, however deep);
    # total counts up to contacts.COUNT_LIMIT, total_more says there are more.
    return out(
        ContactPage,
        {
            "items": [contact_json(c) for c in page.items],
            "total": page.total,
            "total_more": page.total_more,
            "page": page.page,
            "pages": page.pages,
            "per_page": page.per_page,
            "next_cursor": make_cursor([page.next_after, page.page + 1]) if page.next_after else None,
        },
    )


@bp.get("/contacts/<int:contact_id>")
@spec.validate(resp=errors_for(HTTP_200=ContactCard), tags=["contacts"], skip_validation=True)
def get_contact(contact_id: int):
    """Карточка контакта: поля, теги, согласие и последние записи"""
    contact = contact_or_404(contact_id)
    return out(
        ContactCard,
        {
            **contact_json(contact),
            "consent": consent_json(contact),
            "notes": [note_json(n) for n in contacts.timeline(db.session, contact, 100)],
        },
    )


@bp.post("/contacts")
@spec.validate(
    json=NewContact, resp=errors_for(HTTP_201=ContactOut, HTTP_409=DuplicateProblem), tags=["contacts"], skip_validation=True
)
def create_contact():
    """Новый контакт (советник — свой, администратор — любого советника)"""
    user = _user()
    if user.role not in (Role.ADVISOR, Role.ADMIN):
        abort(403)
    data = body(NewContact)
    owner = None
    if user.role == Role.ADMIN and data.owner_id is not None:
        owner = db.session.get(Advisor, data.owner_id) if 0 < data.owner_id <= params.MAX_ID else None
        if owner is None:
            raise Invalid({"owner": "Нет такого советника"})
    contact = contacts.create_contact(db.session, user, data.fields(), owner=owner, confirm_different=data.confirm_different)
    db.session.commit()
    return out(ContactOut, contact_json(contact), 201)


@bp.patch("/contacts/<int:contact_id>")
@spec.validate(
    json=ContactFields, resp=errors_for(HTTP_200=ContactOut, HTTP_409=DuplicateProblem), tags=["contacts"], skip_validation=True
)
def update_contact(contact_id: int):
    """Изменить поля и теги контакта (только переданные поля)"""
    contact = editable_or_403(contact_id)
    data = body(ContactFields)
    contacts.update_contact(db.session, _user(), contact, data.fields(), confirm_different=data.confirm_different)
    db.session.commit()
    return out(ContactOut, contact_json(contact))


@bp.get("/contacts/<int:contact_id>/notes")
@spec.validate(query=CursorQuery, resp=errors_for(HTTP_200=NotePage), tags=["notes"], skip_validation=True)
def list_notes(contact_id: int):
    """Записи контакта (заметки, звонки, письма, клики), новые первыми"""
    contact = contact_or_404(contact_id)
    rows, next_cursor = keyset_page(_notes_query(contact), Note.id)
    return out(NotePage, {"items": [note_json(n) for n in rows], "next_cursor": next_cursor})


def _notes_query(contact: Contact):
    return select(Note).where(Note.contact_id == contact.id).options(selectinload(Note.author))


@bp.post("/contacts/<int:contact_id>/notes")
@spec.validate(json=NewNote, resp=errors_for(HTTP_201=NoteOut), tags=["notes"], skip_validation=True)
def add_note(contact_id: int):
    """Заметка или звонок (kind="call": результат, интерес, возражение, дата следующего контакта)"""
    contact = editable_or_403(contact_id)
    data = body(NewNote)
    if data.kind == "call":
        note = calls.log_call(
            db.session,
            _user(),
            contact,
            result=data.result or "",
            interest=data.interest,
            objection=data.objection or "",
            next_contact_on=data.next_contact_on,
            next_contact_time=data.next_contact_time,
            topic=data.topic or "",
            today=_today(),
        )
    else:
        note = contacts.add_note(db.session, _user(), contact, data.body or "")
    db.session.commit()
    return out(NoteOut, note_json(note), 201)
