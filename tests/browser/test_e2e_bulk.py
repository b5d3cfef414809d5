"""Bulk work on the contacts list in a real browser: tick, act, and confirm what cannot be undone."""

from __future__ import annotations

import pytest

from campaigns.models import Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def office(session, factory):
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Орлов")
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    tag = factory.tag("Медики")
    people = [
        factory.contact(owner=anna, first_name=first, last_name=last, company="Тойота")
        for first, last in (("Олег", "Кондрашов"), ("Елена", "Смирнова"), ("Пётр", "Иванов"))
    ]
    session.commit()
    return admin, anna, igor, tag, people


def test_an_admin_archives_the_ticked_contacts_after_a_confirmation_and_restores_them(page, office, expect):
    admin, _anna, _igor, _tag, _people = office
    log_in(page, admin)
    page.goto("/contacts/")
    page.get_by_label("Отметить: Кондрашов Олег").check()
    page.get_by_label("Отметить: Смирнова Елена").check()
    expect(page.locator("[data-ticked-for=bulk]")).to_have_text("2")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="В архив").click()
    assert "(2)" in asked[0] and "перестанут получать рассылки" in asked[0] and "администратор" in asked[0]
    expect(page.locator("tbody tr")).to_have_count(3)  # cancelled: nothing happened

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="В архив").click()
    expect(page.locator(".flash.success")).to_contain_text("В архив: 2 контакта")
    expect(page.locator("tbody tr")).to_have_count(1)

    page.get_by_label("архив").check()
    page.get_by_role("button", name="Показать").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Отметить все на странице").check()
    expect(page.locator("[data-ticked-for=bulk]")).to_have_text("2")
    screenshot(page, "contacts-archive")
    page.get_by_role("button", name="Вернуть из архива").click()
    expect(page.locator(".flash.success")).to_contain_text("Возвращены из архива: 2 контакта")
    assert page.js_errors == [] and page.csp_violations == []


def test_an_advisor_tags_the_ticked_contacts_and_a_hand_over_asks_first(page, office, expect, browser, live_server, request):
    admin, anna, igor, tag, people = office
    log_in(page, anna)
    page.goto("/contacts/")
    page.get_by_label("Отметить все на странице").check()
    page.get_by_label("Тег для отмеченных").select_option(label="Медики")
    page.get_by_role("button", name="Добавить тег").click()
    expect(page.locator(".flash.success")).to_contain_text("Тег «Медики» добавлен: 3 контакта")
    expect(page.locator("tbody tr", has_text="Медики")).to_have_count(3)
    assert page.get_by_role("button", name="Передать").count() == 0  # only an admin hands over
    screenshot(page, "contacts-bulk")

    # The admin hands one over from the card: the confirmation names the consequence first.
    page.context.clear_cookies()
    log_in(page, admin)
    page.goto(f"/contacts/{people[0].id}")
    page.get_by_label("Новый владелец").select_option(label="Игорь Беляев")
    page.get_by_label("Причина").first.fill("отпуск")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Передать").click()
    expect(page.locator(".flash.success")).to_contain_text("Контакт передан: Игорь Беляев")
    assert "от имени нового владельца" in asked[0]
    assert page.js_errors == [] and page.csp_violations == []
