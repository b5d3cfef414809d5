"""The search box in the header: from any page to the contacts list's search."""

from __future__ import annotations

import pytest

from tests.browser.support import assert_no_horizontal_scroll, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def anna(session, factory):
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, first_name="Олег", last_name="Кондрашов", company="Тойота")
    factory.contact(owner=anna, first_name="Елена", last_name="Смирнова", company="ГК Рики")
    session.commit()
    return anna


def test_the_header_search_finds_a_contact_from_any_page(page, anna, expect):
    log_in(page, anna)
    page.goto("/hot/")
    page.get_by_role("search").get_by_label("Найти контакт").fill("Кондрашов")
    page.keyboard.press("Enter")
    page.wait_for_url("**/contacts/?q=*")
    expect(page.locator("table.contacts tbody tr")).to_have_count(1)
    expect(page.locator("table.contacts tbody")).to_contain_text("Кондрашов Олег")
    expect(page.get_by_label("Найти контакт")).to_have_value("Кондрашов")
    # A keyboard reaches the skip link first.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="К содержанию")).to_be_focused()
    assert page.js_errors == []


def test_the_header_search_fits_a_phone(phone_page, anna):
    log_in(phone_page, anna)
    assert phone_page.get_by_label("Найти контакт").is_visible()
    assert_no_horizontal_scroll(phone_page)


def test_the_log_in_page_puts_the_cursor_in_the_email_field(page, expect):
    page.goto("/login")
    expect(page.get_by_label("Эл. почта")).to_be_focused()
