"""The contact pages in a real browser: a new contact meets its duplicate, the list finds it by either name."""

from __future__ import annotations

import pytest

from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


def test_it_creates_a_contact_past_a_duplicate_and_finds_it_by_alias(page, session, factory):
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    factory.contact(owner=anna, company="Тойота", company_alias="Toyota", company_key="|toiota|")
    session.commit()
    log_in(page, igor)

    page.goto("/contacts/new")
    page.get_by_label("Имя", exact=True).fill("Олег")
    page.get_by_label("Фамилия").fill("Кондрашов")
    page.get_by_label("Компания", exact=True).fill("Тойота Центр (Toyota)")
    page.get_by_role("button", name="Сохранить").click()
    assert "Анна Соколова" in page.locator(".duplicates").inner_text()
    screenshot(page, "contact-duplicate")

    page.get_by_label("Я проверил(а)").check()
    page.get_by_role("button", name="Сохранить").click()
    assert "Письмо начнётся так: «Здравствуйте, Олег!»" in page.locator(".greeting").inner_text()

    page.goto("/contacts/")
    page.get_by_label("Поиск").fill("toyota")
    page.get_by_role("button", name="Показать").click()
    assert "Кондрашов" in page.locator("table.contacts").inner_text()
    assert page.js_errors == []
    screenshot(page, "contact-list")


def test_it_fits_the_list_and_the_form_on_a_phone(phone_page, session, factory):
    anna = factory.advisor()
    for _ in range(3):
        factory.contact(owner=anna, email="a.very.long.address.for.a.phone@toyota-center.example.com")
    session.commit()
    log_in(phone_page, anna)
    for path in ("/contacts/", "/contacts/new"):
        phone_page.goto(path)
        assert_no_horizontal_scroll(phone_page)
