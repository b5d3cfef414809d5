"""Tags in a real browser: rules typed and shown in Russian, tag choices grouped with months in calendar order."""

from __future__ import annotations

import pytest

from campaigns import catalog
from campaigns.models import Advisor, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


def test_marketing_types_a_rule_in_russian_and_reads_every_rule_in_russian(page, session, factory, expect):
    catalog.seed_tags(session)
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева")
    session.commit()
    log_in(page, marketing)
    page.goto("/tags")
    medics = page.locator("tr", has_text="Медики")
    expect(medics).to_contain_text("3-е воскресенье июня")
    expect(medics).to_contain_text("за 21 день, а если это выходной — на предыдущий рабочий день")
    march = page.locator("tr", has_text="Март").filter(has_text="месяц закупки").first
    expect(march).to_contain_text("первый рабочий день марта")
    assert "sun" not in page.locator("main table").inner_text()
    screenshot(page, "tags")

    page.get_by_role("link", name="Новый тег").click()
    page.get_by_label("Название").fill("Учителя")
    page.get_by_label("Дата праздника").fill("5 октября, за 14 дней")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".flash.success")).to_contain_text("Тег «Учителя» сохранён.")
    expect(page.locator("tr", has_text="Учителя")).to_contain_text("5 октября")
    expect(page.locator("tr", has_text="Учителя")).to_contain_text("за 14 дней")
    page.locator("tr", has_text="Учителя").get_by_role("link", name="изменить").click()
    expect(page.get_by_label("Дата праздника")).to_have_value("5 октября")
    assert page.js_errors == []


def test_the_contact_form_groups_the_tags_with_months_in_calendar_order(page, session, factory, expect):
    catalog.seed_tags(session)
    anna = factory.advisor(name="Анна Соколова")
    session.commit()
    log_in(page, anna)
    page.goto("/contacts/new")
    groups = page.locator(".tag-group legend").all_inner_texts()
    assert groups == ["Отрасли", "Праздники", "Месяц закупки"]
    months = page.locator(".tag-group", has_text="Месяц закупки").locator("label").all_inner_texts()
    assert months == ["Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь", "Октябрь", "Ноябрь", "Декабрь"]
    holidays = page.locator(".tag-group", has_text="Праздники").locator("label").all_inner_texts()
    assert holidays == ["23 февраля", "8 марта"]
    page.get_by_label("Медики").check()
    page.get_by_label("Декабрь").check()
    page.get_by_label("Фамилия").fill("Кондрашов")
    page.get_by_label("Имя", exact=True).fill("Олег")
    page.get_by_label("Компания", exact=True).fill("Тойота")
    page.get_by_label("Эл. почта").fill("oleg@toyota.example.com")
    page.get_by_label("Откуда согласие на рассылку").fill("визитка")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".flash.success")).to_contain_text("Контакт создан")
    expect(page.locator("main")).to_contain_text("Медики")
    assert page.js_errors == []


def test_the_demos_tag_is_in_its_own_group_not_among_the_holidays(page, session, factory, settings, expect):
    """#18: «Демо: первые письма» showed under «Праздники»; it is the demo's, and says so."""
    from campaigns import demo

    demo.load(session, settings)
    demo.prepare_first_mails(session, settings)
    session.commit()
    anna = session.query(Advisor).filter_by(email=demo.FIRST_MAILS_OWNER).one()
    log_in(page, anna, demo.DEMO_PASSWORD)
    page.goto("/contacts/new")
    groups = page.locator(".tag-group legend").all_inner_texts()
    assert groups == ["Отрасли", "Праздники", "Месяц закупки", "Демо"]
    holidays = page.locator(".tag-group", has_text="Праздники").locator("label").all_inner_texts()
    assert demo.FIRST_MAILS_TAG not in holidays
    expect(page.locator(".tag-group", has_text="Демо").locator("label")).to_have_text([demo.FIRST_MAILS_TAG])
    assert page.js_errors == []
