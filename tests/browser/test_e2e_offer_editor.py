"""The offer editor in a real browser: last year's letter to start from, Russian errors with the line,
one consistent check, a «Готово к отправке» that looks disabled while it is."""

from __future__ import annotations

import pytest

from campaigns.models import Link, Offer, OfferStatus, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def blank_draft(session, factory):
    tag = factory.tag("Медики", rule="3 sun jun")
    factory.contact(tags=[tag], first_name="Олег", last_name="Кондрашов", company="Тойота")
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева")
    last_year = factory.offer(
        tag=tag,
        year=2026,
        status=OfferStatus.READY,
        subject="Подарки медикам — {{ company }}",
        body="{{ greeting }}\n\nКаталог: {{ links.catalog }}",
    )
    last_year.links.append(Link(name="catalog", url="https://gifts.example.com/medics", label="Каталог", weight=1))
    draft = Offer(tag=tag, year=2027, subject="", body="", status=OfferStatus.DRAFT)
    session.add(draft)
    session.commit()
    return marketing, draft


def test_a_blank_draft_starts_from_last_years_letter(page, blank_draft, expect):
    marketing, draft = blank_draft
    log_in(page, marketing)
    page.goto(f"/offers/{draft.id}")
    page.get_by_role("button", name="Начать с прошлогоднего (2026)").click()
    expect(page.locator(".flash.success")).to_contain_text("Черновик начат с предложения 2026 года")
    expect(page.get_by_label("Тема")).to_have_value("Подарки медикам — {{ company }}")
    expect(page.locator("input[aria-label='Адрес']").first).to_have_value("https://gifts.example.com/medics")
    assert page.get_by_role("button", name="Начать с прошлогоднего (2026)").count() == 0
    screenshot(page, "offer-editor-from-last-year")


def test_a_broken_template_is_explained_in_russian_and_ready_looks_disabled(page, blank_draft, expect):
    marketing, draft = blank_draft
    log_in(page, marketing)
    page.goto(f"/offers/{draft.id}")
    page.get_by_label("Тема").fill("Подарки для {{ company }}")
    page.get_by_label("Текст письма").fill("{{ greeting }}\n\nКаталог: {{ links.catalog }\n")
    page.get_by_role("button", name="Сохранить").click()
    error = page.locator(".field", has=page.get_by_label("Текст письма")).locator(".error")
    expect(error).to_contain_text("строка 3")
    expect(error).to_contain_text("лишняя «}»")
    check = page.locator(".card.lint")
    expect(check).to_contain_text("строка 3")
    assert "Тема письма пуста" not in check.inner_text()  # the subject typed is checked, not the stored one
    assert "unexpected" not in page.locator("main").inner_text()
    ready = page.get_by_role("button", name="Готово к отправке")
    expect(ready).to_be_disabled()
    background = ready.evaluate("b => getComputedStyle(b).backgroundColor")
    accent = page.get_by_role("button", name="Сохранить").evaluate("b => getComputedStyle(b).backgroundColor")
    assert background != accent and ready.evaluate("b => getComputedStyle(b).cursor") == "not-allowed"
    expect(check).to_contain_text("Станет доступно, когда замечаний не останется")
    screenshot(page, "offer-editor-errors")
