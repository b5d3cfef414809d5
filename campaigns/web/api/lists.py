"""The API's stop list and imports (the import page's own functions: web/imports)."""

from __future__ import annotations

from flask import abort, request
from pydantic import BaseModel, Field, StrictBool, StrictStr
from sqlalchemy import select

from ... import consent, import_jobs
from ...db import db
from ...extensions import redis_client
from ...import_check import ImportOptions
from ...models import Role, Suppression, SuppressionReason
from .. import imports as import_pages
from .. import params
from ..openapi import spec
from ..problems import problem
from .base import (
    WRITERS,
    Body,
    CursorQuery,
    Invalid,
    Problem,
    api_user,
    body,
    bp,
    errors_for,
    iso,
    keyset_page,
    out,
    require_roles,
)


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


class NewStop(Body):
    email: StrictStr
    reason: StrictStr = Field(description="Почему адрес исключён (обязательно)")


class RemoveStop(Body):
    reason: StrictStr = Field(description="Почему адрес снова можно использовать (обязательно)")


def _stop_json(s: Suppression) -> dict:
    return {"id": s.id, "email": s.email, "reason": s.reason.value, "detail": s.detail, "created_at": iso(s.created_at)}


@bp.get("/stoplist")
@spec.validate(query=StopQuery, resp=errors_for(HTTP_200=StopPage), tags=["stoplist"], skip_validation=True)
def stop_list():
    """Стоп-лист: адреса, на которые не уходит ни одно письмо (маркетинг и администратор)"""
    require_roles(*WRITERS)
    query = select(Suppression)
    if email := request.args.get("email", "").strip().lower():
        query = query.where(Suppression.email == email)
    rows, next_cursor = keyset_page(query, Suppression.id)
    return out(StopPage, {"items": [_stop_json(s) for s in rows], "next_cursor": next_cursor})


@bp.post("/stoplist")
@spec.validate(json=NewStop, resp=errors_for(HTTP_201=StopEntry), tags=["stoplist"], skip_validation=True)
def add_stop():
    """Внести адрес в стоп-лист с причиной; запланированные письма на него отменяются"""
    require_roles(*WRITERS)
    data = body(NewStop)
    email = data.email.strip().lower()
    errors = {}
    if "@" not in email or len(email) > 254 or any(ch.isspace() for ch in email):
        errors["email"] = "Неверный адрес эл. почты"
    if not data.reason.strip():
        errors["reason"] = "Укажите причину"
    if errors:
        raise Invalid(errors)
    consent.suppress(db.session, email, SuppressionReason.MANUAL, " ".join(data.reason.split()), author_id=api_user().id)
    db.session.commit()
    entry = db.session.scalars(select(Suppression).where(Suppression.email == email)).one()
    return out(StopEntry, _stop_json(entry), 201)


@bp.delete("/stoplist/<int:entry_id>")
@spec.validate(json=RemoveStop, resp=errors_for(HTTP_200=StopEntry, HTTP_409=Problem), tags=["stoplist"], skip_validation=True)
def remove_stop(entry_id: int):
    """Убрать адрес из стоп-листа с причиной (администратор; отписку и жалобу — нельзя)"""
    require_roles(Role.ADMIN)
    data = body(RemoveStop)
    entry = db.session.get(Suppression, entry_id)
    if entry is None:
        abort(404, description="Такого адреса в стоп-листе нет")
    if not data.reason.strip():
        raise Invalid({"reason": "Укажите причину"})
    try:
        consent.unsuppress(db.session, api_user(), entry, " ".join(data.reason.split()))
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


class CommitImport(Body):
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


@bp.post("/imports")
@spec.validate(resp=errors_for(HTTP_202=ImportOut), tags=["imports"], skip_validation=True)
def upload_import():
    """Загрузить файл CSV или XLSX (multipart/form-data, поле file): начинается проверка

    Администратор может передать owner_id (чьими станут новые контакты) и use_owner_column=1.
    """
    user = api_user()
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


@bp.get("/imports/<import_id>")
@spec.validate(resp=errors_for(HTTP_200=ImportOut), tags=["imports"], skip_validation=True)
def import_status(import_id: str):
    """Состояние импорта: проверка, предпросмотр, запись, итог"""
    return out(ImportOut, _import_json(import_id, _import_or_404(import_id)))


@bp.post("/imports/<import_id>/commit")
@spec.validate(json=CommitImport, resp=errors_for(HTTP_202=ImportOut, HTTP_409=Problem), tags=["imports"], skip_validation=True)
def commit_import(import_id: str):
    """Записать проверенный импорт (skip_errors: пропустить строки с ошибками)"""
    state = _import_or_404(import_id)
    data = body(CommitImport) if request.get_data() else CommitImport()
    if not import_pages.begin_commit(import_id, state, data.skip_errors):
        return problem(409, "Этот импорт ещё проверяется, уже выполняется или завершён.", errors={"status": state["status"]})
    return out(ImportOut, _import_json(import_id, import_jobs.load_state(redis_client(), import_id)), 202)
