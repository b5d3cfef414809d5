"""Log-in in a real browser: errors beside the fields, then the advisor's start page."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


def test_it_shows_log_in_errors_beside_the_fields(page, factory, session):
    user = factory.advisor(email="anna@studio.example.com")
    session.commit()

    page.goto("/")
    assert "/login" in page.url
    page.get_by_role("button", name="Войти").click()
    email_field = page.locator(".field", has=page.get_by_label("Эл. почта"))
    assert email_field.locator(".error").inner_text() == "Введите адрес эл. почты"
    assert "has-error" in email_field.get_attribute("class")

    page.get_by_label("Эл. почта").fill(user.email)
    page.get_by_label("Пароль").fill("wrong password")
    page.get_by_role("button", name="Войти").click()
    password_field = page.locator(".field", has=page.get_by_label("Пароль"))
    assert password_field.locator(".error").inner_text() == "Неверный адрес или пароль"
    assert page.get_by_label("Эл. почта").input_value() == user.email
    screenshot(page, "login")


def test_it_logs_an_advisor_in_and_out(page, factory, session):
    user = factory.advisor(name="Анна Соколова")
    session.commit()

    log_in(page, user)
    assert page.locator("header .who").inner_text() == "Анна Соколова"
    assert page.js_errors == []

    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url("**/login")
    assert page.locator(".flash").inner_text() == "Вы вышли из системы."


def test_it_sends_the_csrf_token_with_htmx_requests(page, factory, session):
    user = factory.advisor()
    session.commit()
    log_in(page, user)

    # The vendored htmx is loaded from our own server and posts with the token from the meta tag:
    # a POST that Flask-WTF would refuse without it logs the user out.
    assert page.evaluate("() => htmx.version").startswith("2.")
    # A form answered with 422 (errors beside the fields) is swapped in, not dropped.
    assert page.evaluate("() => htmx.config.responseHandling.find(r => r.code === '422').swap") is True
    with page.expect_response(lambda r: r.url.endswith("/logout")) as response:
        page.evaluate("() => htmx.ajax('POST', '/logout', {target: 'main', swap: 'none'})")
    assert response.value.status == 302
    page.goto("/")
    assert "/login" in page.url
