"""RFC 9457 problem documents: every error under /api/ is `application/problem+json` with a
Russian `detail`; a field-by-field check adds `errors` ({field: message}), as the API always did."""

from __future__ import annotations

from flask import jsonify

PROBLEM_TYPE = "application/problem+json"

TITLES = {
    400: "Неверный запрос",
    401: "Нужен вход",
    403: "Нет доступа",
    404: "Не найдено",
    405: "Так нельзя",
    409: "Конфликт",
    413: "Слишком большой запрос",
    422: "Не удалось выполнить",
    429: "Слишком много запросов",
    500: "Ошибка на сервере",
    503: "Сервис временно недоступен",
}


def problem(status: int, detail: str, *, errors: dict[str, str] | None = None, title: str | None = None, headers=None, **extra):
    """A problem+json response: type, title, status, detail (Russian), and `errors` when given."""
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status, TITLES[500 if status >= 500 else 400]),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    for name, value in headers.items() if isinstance(headers, dict) else headers or ():
        response.headers[name] = value
    return response


def detail_of(errors: dict[str, str]) -> str:
    """One sentence for `detail` from the per-field messages."""
    messages = list(dict.fromkeys(errors.values()))
    return (
        messages[0]
        if len(messages) == 1
        else "Проверьте поля: " + "; ".join(f"{name} — {message}" for name, message in errors.items())
    )
