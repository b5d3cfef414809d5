"""The team pages of #17 in a real browser: own settings, the admin's user page (house advisor,
hours), handing contacts to a colleague, and a person's data with its erasure."""

from __future__ import annotations

import pytest

from campaigns.models import Advisor, Contact, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def team(session, factory):
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Орлов", email="admin@studio.example.com")
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    contact = factory.contact(
        owner=anna, first_name="Олег", last_name="Кондрашов", company="Тойота", email="kondrashov@toyota.example.com"
    )
    session.commit()
    return admin, anna, igor, contact


def test_an_advisor_edits_own_signature_and_hands_a_contact_to_a_colleague(page, team, session):
    admin, anna, igor, contact = team
    log_in(page, anna)
    page.locator("a.who").click()
    page.get_by_label("Подпись в письмах").fill("Анна Соколова\nотдел корпоративных подарков")
    page.get_by_role("button", name="Сохранить").click()
    assert "Настройки сохранены." in page.locator(".flash.success").inner_text()
    screenshot(page, "team-profile")

    page.goto(f"/contacts/{contact.id}")
    page.get_by_role("link", name="Передать коллеге").click()
    assert page.locator(f"#hand-{contact.id}").is_checked()
    page.get_by_label("Кому").select_option(label="Игорь Беляев")
    page.get_by_label("Причина").fill("клиент из Казани")
    screenshot(page, "team-handover")
    page.get_by_role("button", name="Передать отмеченные").click()
    assert "Передано контактов: 1 → Игорь Беляев." in page.locator(".flash.success").inner_text()
    assert "клиент из Казани" in page.locator(".handed-by-me").inner_text()
    assert page.js_errors == [] and page.csp_violations == []

    session.expire_all()
    assert session.get(Contact, contact.id).owner_id == igor.id
    assert session.get(Advisor, anna.id).signature == "Анна Соколова\nотдел корпоративных подарков"
    session.rollback()


def test_admin_sets_an_advisors_hours_and_makes_him_the_house_advisor(page, team, session):
    admin, anna, igor, contact = team
    log_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="Пользователи").click()
    assert "Дежурного советника нет" in page.locator(".no-house").inner_text()
    page.get_by_role("link", name="Игорь Беляев").click()
    page.get_by_label("Рабочие часы").fill("10:00-19:00")
    page.get_by_label("Часовой пояс").fill("Asia/Yekaterinburg")
    page.get_by_role("button", name="Сохранить").click()
    assert "сохранены" in page.locator(".flash.success").inner_text()
    page.get_by_role("link", name="Игорь Беляев").click()
    screenshot(page, "team-user-edit")
    page.get_by_role("button", name="Сделать дежурным советником").click()
    assert "Игорь Беляев — дежурный советник." in page.locator(".flash.success").inner_text()
    assert page.js_errors == [] and page.csp_violations == []

    session.expire_all()
    igor = session.get(Advisor, igor.id)
    assert (igor.work_hours, igor.timezone, igor.is_house) == ("10:00-19:00", "Asia/Yekaterinburg", True)
    session.rollback()


def test_admin_sees_everything_about_a_person_and_erases_it(page, team, session):
    admin, anna, igor, contact = team
    log_in(page, admin)
    page.goto(f"/contacts/{contact.id}")
    page.get_by_role("link", name="Все данные").click()
    assert "kondrashov@toyota.example.com" in page.locator(".privacy-card").inner_text()
    screenshot(page, "team-person-data")
    page.get_by_label("Клиент потребовал удалить его данные").check()
    page.get_by_role("button", name="Удалить данные").click()
    assert "Персональные данные удалены" in page.locator(".flash.success").inner_text()
    assert "kondrashov" not in page.content()
    assert page.js_errors == [] and page.csp_violations == []

    session.expire_all()
    assert session.get(Contact, contact.id).erased_at is not None
    session.rollback()
