"""The admin in a real browser: moving contacts to another advisor leaves a note on each."""

from __future__ import annotations

import pytest

from campaigns.models import Contact, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def team(session, factory):
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Орлов", email="admin@studio.example.com")
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    contact = factory.contact(owner=anna, first_name="Олег", last_name="Кондрашов", company="Тойота")
    session.commit()
    return admin, anna, igor, contact


def test_it_moves_a_contact_to_another_advisor_from_its_card(page, team, session):
    admin, anna, igor, contact = team
    log_in(page, admin)

    page.goto(f"/contacts/{contact.id}")
    transfer = page.locator("form", has=page.get_by_role("button", name="Передать"))
    transfer.get_by_label("Новый владелец").select_option(label="Игорь Беляев")
    transfer.get_by_label("Причина").fill("Анна в отпуске до марта")
    asked: list[str] = []  # a hand-over asks first, saying what follows
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    transfer.get_by_role("button", name="Передать").click()

    assert "Контакт передан: Игорь Беляев." in page.locator(".flash.success").inner_text()
    assert "от имени нового владельца" in asked[0]
    note = page.locator(".timeline .note-owner").first
    assert "Игорь Беляев" in note.inner_text() and "Анна в отпуске до марта" in note.inner_text()
    assert page.js_errors == []
    screenshot(page, "admin-contact-moved")

    session.expire_all()
    assert session.get(Contact, contact.id).owner_id == igor.id
    session.rollback()


def test_it_moves_all_contacts_of_an_advisor_at_once(page, team, session, factory):
    admin, anna, igor, contact = team
    factory.contact(owner=anna, company="ГК Рики")
    session.commit()
    log_in(page, admin)

    page.get_by_role("navigation").get_by_role("link", name="Передача контактов").click()
    page.get_by_label("Сейчас у").select_option(label="Анна Соколова")
    page.get_by_role("button", name="Посчитать").click()
    assert page.locator(".transfer-count").inner_text() == "Выбрано: 2 контакта."
    page.get_by_label("Новый владелец").select_option(label="Игорь Беляев")
    page.get_by_label("Причина").fill("Анна уволилась")
    screenshot(page, "admin-transfer")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Передать 2 контакта").click()

    assert "Игорь Беляев" in page.locator(".flash.success").inner_text()
    assert asked[0].startswith("Передать 2 контакта выбранному советнику?")
    page.goto(f"/contacts/{contact.id}")
    assert "Анна уволилась" in page.locator(".timeline .note-owner").first.inner_text()
