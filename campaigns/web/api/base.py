"""The API's common ground: the blueprint, who is asking (a key or the log-in cookie), errors as
problem documents, request bodies and responses through their pydantic models, cursors."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint, abort, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from redis.exceptions import RedisError
from spectree import Response
from werkzeug.exceptions import HTTPException

from ... import apikeys, contacts
from ...config import current_settings
from ...db import db
from ...extensions import csrf, login_manager, redis_client
from ...models import Advisor, Contact, Role
from .. import params
from ..problems import detail_of, problem

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


def api_user() -> Advisor:
    """The user the request acts for (a key's owner, or the one logged in)."""
    return current_user._get_current_object()


def today():
    return datetime.now(current_settings().timezone).date()


WRITERS = (Role.MARKETING, Role.ADMIN)


def require_roles(*roles: Role) -> None:
    if api_user().role not in roles:
        abort(403)


def visible_ids():
    """The ids of the contacts the caller sees (a subquery for IN): the contact list's own rule."""
    return contacts.visible_contacts(db.session, api_user(), include_archived=True).with_only_columns(Contact.id)


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


class Body(BaseModel):
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
UNKNOWN: dict[type, str] = {}


def body(model: type[Body]) -> Any:
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
                message = next((m for cls, m in UNKNOWN.items() if issubclass(model, cls)), "Неизвестное поле")
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


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


class CursorQuery(BaseModel):
    cursor: str | None = Field(None, description="next_cursor предыдущей страницы")
    limit: int | None = Field(None, description="Сколько на странице (1–200, по умолчанию 50)")
