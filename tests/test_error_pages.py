"""Errors answer in Russian: a page in the app's layout, JSON under /api/."""

from __future__ import annotations

import io

import pytest
from flask import abort

from campaigns.models import Role


def _advisor(client, factory, session, **kw):
    user = factory.advisor(**kw)
    session.commit()
    client.login(user)
    return user


def _is_russian_page(response, title: str) -> str:
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in body
    assert 'class="brand"' in body  # the app's layout, not Werkzeug's bare page
    assert not any(
        english in body
        for english in (
            "Not Found",
            "Forbidden",
            "Method Not Allowed",
            "Bad Request",
            "Request Entity Too Large",
            "Internal Server Error",
            "Too Many",
        )
    )
    return body


def test_an_unknown_page_is_a_russian_404_in_the_layout(client, factory, session):
    _advisor(client, factory, session)
    response = client.get("/no-such-page")
    assert response.status_code == 404
    _is_russian_page(response, "Страница не найдена")


def test_a_page_of_another_role_is_a_russian_403(client, factory, session):
    _advisor(client, factory, session)
    response = client.get("/admin/users")
    assert response.status_code == 403
    _is_russian_page(response, "Нет доступа")


def test_a_wrong_method_is_a_russian_405_that_keeps_the_allow_header(client, factory, session):
    _advisor(client, factory, session)
    response = client.put("/contacts/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    _is_russian_page(response, "Так нельзя")


def test_a_form_without_its_csrf_token_is_a_russian_400(client, factory, session):
    user = factory.advisor()
    session.commit()
    response = client.post("/login", data={"email": user.email, "password": "x"})
    assert response.status_code == 400
    body = _is_russian_page(response, "Неверный запрос")
    assert "Форма устарела" in body and "CSRF token" not in body


def test_a_too_large_request_is_a_russian_413(client, factory, session, app, monkeypatch):
    _advisor(client, factory, session, role=Role.ADMIN)
    token = client.csrf_token("/")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/imports/", data={"file": (io.BytesIO(b"x" * 4096), "a.csv"), "csrf_token": token})
    assert response.status_code == 413
    _is_russian_page(response, "Слишком большой файл")


@pytest.fixture
def error_routes(app):
    """Views that fail on purpose, registered once on the shared test app."""
    if "boom" not in app.view_functions:

        def boom():
            raise RuntimeError("a bug")

        def refuse():
            abort(400, description="Дата «31.02» не существует: укажите настоящую дату.")

        def refuse_in_english():
            abort(400, description="Invalid literal for int() with base 10")

        def limited():
            abort(429)

        with app.app_context():
            app._got_first_request = False  # Flask refuses late routes once a request was served
            for view in (boom, refuse, refuse_in_english, limited):
                app.add_url_rule(f"/test-errors/{view.__name__}", view.__name__, view)
                app.add_url_rule(f"/api/test-errors/{view.__name__}", f"api_{view.__name__}", view)
    return app


def test_a_russian_abort_description_is_shown_to_the_person(client, factory, session, error_routes):
    _advisor(client, factory, session)
    response = client.get("/test-errors/refuse")
    assert response.status_code == 400
    assert "Дата «31.02» не существует: укажите настоящую дату." in _is_russian_page(response, "Неверный запрос")


def test_an_english_abort_description_is_not_shown(client, factory, session, error_routes):
    _advisor(client, factory, session)
    response = client.get("/test-errors/refuse_in_english")
    body = _is_russian_page(response, "Неверный запрос")
    assert "int()" not in body


def test_too_many_requests_is_a_russian_429(client, factory, session, error_routes):
    _advisor(client, factory, session)
    response = client.get("/test-errors/limited")
    assert response.status_code == 429
    _is_russian_page(response, "Слишком много запросов")


def test_a_bug_is_a_russian_500_page(client, factory, session, error_routes, app, monkeypatch):
    monkeypatch.setitem(app.config, "TESTING", False)  # TESTING re-raises instead of answering
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    _advisor(client, factory, session)
    response = client.get("/test-errors/boom")
    assert response.status_code == 500
    assert "a bug" not in _is_russian_page(response, "Ошибка на сервере")


def test_the_api_answers_errors_as_russian_json(client, factory, session, error_routes):
    _advisor(client, factory, session)
    response = client.get("/api/test-errors/refuse")
    assert response.status_code == 400
    # RFC 9457: a problem document, its detail the Russian sentence; `errors` as the API always had it.
    assert response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Неверный запрос",
        "status": 400,
        "detail": "Дата «31.02» не существует: укажите настоящую дату.",
        "errors": {"request": "Дата «31.02» не существует: укажите настоящую дату."},
    }
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404 and response.is_json
    response = client.delete("/api/contacts")
    assert response.status_code == 405 and response.get_json()["errors"]["request"].startswith("Эта страница")


def test_opening_the_call_form_address_after_a_form_error_goes_back_to_the_hot_list(client, factory, session):
    user = _advisor(client, factory, session)
    contact = factory.contact(owner=user)
    session.commit()
    failed = client.post_form(f"/hot/{contact.id}/call", {f"c{contact.id}-result": ""})
    assert failed.status_code in (404, 422)
    response = client.get(f"/hot/{contact.id}/call")
    assert response.status_code == 302
    assert response.headers["Location"] == "/hot/"
    assert client.get(response.headers["Location"]).status_code == 200


def test_opening_a_card_action_address_goes_to_the_card(client, factory, session):
    user = _advisor(client, factory, session)
    contact = factory.contact(owner=user)
    session.commit()
    response = client.get(f"/contacts/{contact.id}/notes")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{contact.id}"
