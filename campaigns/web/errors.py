"""Error answers for people: a Russian page in the app's layout, or a Russian problem document
(RFC 9457, application/problem+json) under /api/.

`abort(400, description="…")` shows its (Russian) description; Werkzeug's and the libraries'
English descriptions are never shown. A GET on an address that only takes POST (a form's action,
opened again after the form came back with errors) leads to the page the action belongs to.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from ..db import db
from .problems import problem

bp = Blueprint("errors", __name__)
log = logging.getLogger(__name__)

# code: (title, what to tell the person)
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Неверный запрос", "Запрос не удалось понять. Вернитесь на предыдущую страницу и попробуйте ещё раз."),
    401: ("Нужен вход", "Войдите в систему, чтобы открыть эту страницу."),
    403: ("Нет доступа", "У вашей роли нет доступа к этой странице. Если он нужен, обратитесь к администратору."),
    404: ("Страница не найдена", "Такой страницы нет: ссылка устарела или в адресе опечатка."),
    405: ("Так нельзя", "Эта страница не принимает такой запрос. Откройте её из меню."),
    413: ("Слишком большой файл", "Файл или форма слишком велики. Уменьшите файл и попробуйте снова."),
    429: ("Слишком много запросов", "Слишком много попыток подряд. Подождите немного и попробуйте снова."),
    500: (
        "Ошибка на сервере",
        "Что-то пошло не так на нашей стороне. Попробуйте ещё раз через минуту; если ошибка повторится, сообщите администратору.",
    ),
}
CSRF_MESSAGE = "Форма устарела или отправлена не с этой страницы. Обновите страницу и отправьте форму ещё раз."
_CYRILLIC = re.compile("[А-Яа-яЁё]")


def message_for(exc: HTTPException) -> tuple[int, str, str]:
    """(status, title, message) for an HTTP error; a Russian description given to abort() wins."""
    code = exc.code or 500
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if isinstance(exc, CSRFError):
        message = CSRF_MESSAGE
    elif exc.description and exc.description != type(exc).description and _CYRILLIC.search(exc.description):
        message = exc.description
    return code, title, message


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _page_of_action() -> str | None:
    """For a GET on a POST-only address: the nearest address above it that a GET opens (/hot/5/call → /hot/)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    path = request.path.rstrip("/")
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        try:
            adapter.match(path or "/", method="GET")
        except RequestRedirect as moved:
            return urlsplit(moved.new_url).path  # /hot → /hot/; stay relative
        except (NotFound, MethodNotAllowed):
            continue
        return path or "/"
    return None


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if isinstance(exc, MethodNotAllowed) and request.method in ("GET", "HEAD") and not _wants_json():
        page = _page_of_action()
        if page:
            return redirect(page)
    code, title, message = message_for(exc)
    # Keep what the exception says about itself (Allow on a 405, Retry-After…), not its English body.
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    if _wants_json():
        return problem(code, message, title=title, errors={"request": message}, headers=headers)
    return _page(code, title, message), code, headers


@bp.app_errorhandler(InternalServerError)
def _server_error(exc: InternalServerError):
    db.session.rollback()  # the failed request's transaction must not leak into the page or the next request
    code, title, message = message_for(exc)
    if _wants_json():
        return problem(500, message, title=title, errors={"request": message})
    return _page(code, title, message), 500


def _page(code: int, title: str, message: str) -> str:
    try:
        return render_template("errors/error.html", code=code, title=title, message=message)
    except Exception:  # noqa: BLE001 — the layout needs the database (the current user); it may be what failed
        log.exception("the error page could not be rendered")
        return (
            f'<!doctype html><html lang="ru"><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<h1>{escape(title)}</h1><p>{escape(message)}</p></html>"
        )
