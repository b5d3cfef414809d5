"""Marketing in a real browser: from the readiness board to an edited offer and its preview."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from campaigns.models import Link, OfferStatus, Role, TagKind

pytestmark = pytest.mark.browser

RULE_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@pytest.fixture
def draft_offer(session, factory):
    # A holiday a month from now, so that its mailing is on the 90-day board whatever today is.
    holiday = date.today() + timedelta(days=30)
    if (holiday.month, holiday.day) == (2, 29):
        holiday += timedelta(days=1)
    tag = factory.tag("День энергетика", kind=TagKind.HOLIDAY, rule=f"{holiday.day} {RULE_MONTHS[holiday.month - 1]}",
                      lead_days=7)
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, tags=[tag], first_name="Олег", last_name="Кондрашов", company="Тойота")
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева", email="maria@studio.example.com")
    offer = factory.offer(tag=tag, year=holiday.year, status=OfferStatus.DRAFT, subject="Черновик", body="Текст")
    offer.links.append(Link(name="discount", url="https://gifts.example.com/sale", label="Скидка", weight=3))
    session.commit()
    return marketing, offer


def test_it_prepares_an_offer_and_previews_it(page, draft_offer, log_in, screenshot, expect):
    marketing, offer = draft_offer
    log_in(page, marketing)

    page.get_by_role("navigation").get_by_role("link", name="Готовность").click()
    row = page.locator("tr", has_text="День энергетика")
    assert "черновик" in row.inner_text()
    screenshot(page, "readiness-board")

    row.get_by_role("link", name="черновик").click()
    page.get_by_label("Тема").fill("Подарки ко Дню энергетика для «{{ company }}»")
    assert page.locator("input[aria-label='Имя'][value='discount']").count() == 1, "the editor lists the link twice"
    page.get_by_label("Текст письма").fill(
        "{{ greeting }}\n\nМы подобрали подарки для коллег из «{{ company }}».\n\nСкидка: {{ links.discount }}\n\n"
        "{{ advisor.signature }}"
    )
    # The live preview follows the typing (htmx), before anything is saved.
    expect(page.locator("#live-preview")).to_contain_text("Мы подобрали подарки для коллег из «Тойота».")
    expect(page.locator("#live-preview")).to_contain_text("Здравствуйте, Олег!")
    screenshot(page, "offer-live-preview")
    page.get_by_role("button", name="Сохранить").click()
    assert page.locator(".flash.success").inner_text() == "Предложение сохранено."
    assert page.get_by_label("Тема").input_value() == "Подарки ко Дню энергетика для «{{ company }}»"
    screenshot(page, "offer-editor")

    page.get_by_role("button", name=re.compile("предпросмотр|Показать письмо", re.I)).click()
    text = page.locator("pre.text-part").inner_text()
    assert text.startswith("Здравствуйте, Олег!")
    assert "Мы подобрали подарки для коллег из «Тойота»." in text
    assert "Скидка: https://campaigns.example.com/c/" in text  # the tracked link, not the shop's address
    assert "С уважением,\nАнна Соколова" in text
    assert "Подарки ко Дню энергетика для «Тойота»" in page.locator("table.headers").inner_text()
    html = page.frame_locator("iframe.mail-html").locator("body")
    assert "Мы подобрали подарки для коллег из «Тойота»." in html.inner_text()
    assert page.js_errors == []
    screenshot(page, "offer-preview")


def test_it_shows_a_template_error_beside_the_body(page, draft_offer, log_in):
    marketing, offer = draft_offer
    log_in(page, marketing)
    page.goto(f"/offers/{offer.id}")

    page.get_by_label("Текст письма").fill("{{ greeting }\n\nТекст")
    page.get_by_role("button", name="Сохранить").click()
    body = page.locator(".field", has=page.get_by_label("Текст письма"))
    assert "has-error" in body.get_attribute("class")
    assert body.locator(".error").inner_text() != ""
