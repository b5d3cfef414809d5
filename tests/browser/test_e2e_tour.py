"""A tour of the main pages on the demo data set: each page opens from the navigation without
an error or a script error, fits its window, and is photographed.

`UPDATE_SCREENSHOTS=1 ./test tests/browser/test_e2e_tour.py` refreshes the README screenshots
in docs/screenshots/ from this tour.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaigns import demo
from campaigns.models import Advisor, Offer, OfferStatus
from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_data(session, settings):
    demo.load(session, settings)
    session.commit()
    return {u.email: u for u in session.scalars(select(Advisor))}


@pytest.fixture
def visit(page):
    def visit(target: str, name: str, *, full_page: bool = False, readme: bool = True):
        """Open a page by its navigation label (or a path), check it and photograph it."""
        with page.expect_navigation() as navigation:
            if target.startswith("/"):
                page.goto(target)
            else:
                page.get_by_role("navigation").get_by_role("link", name=target, exact=True).click()
        status = navigation.value.status
        assert status == 200, f"{target}: HTTP {status}"
        assert_no_horizontal_scroll(page)
        screenshot(page, name, full_page=full_page, readme=readme)
        assert page.js_errors == [], f"{target}: {page.js_errors}"

    return visit


# One test for the three roles: loading the demo data set (it composes every past mail) is the slow part.
def test_it_shows_every_main_page_on_the_demo_data(page, phone_page, demo_data, session, visit, expect):
    log_in(page, demo_data["anna@demo.example"], password=demo.DEMO_PASSWORD)
    visit("Главная", "home")
    assert page.locator(".hot-entry").count() > 0, "the demo data should make a hot list"
    visit("Горячие", "hot-list")
    first_hot = page.locator(".hot-list tbody tr").first.get_attribute("id").removeprefix("contact-")
    visit(f"/contacts/{first_hot}", "contact-card")

    log_in(phone_page, demo_data["anna@demo.example"], password=demo.DEMO_PASSWORD)
    for path, name in (("/hot/", "phone-hot-list"), (f"/contacts/{first_hot}", "phone-contact-card")):
        phone_page.goto(path)
        assert_no_horizontal_scroll(phone_page)
        screenshot(phone_page, name, full_page=False, readme=True)
    visit("Календарь", "advisor-calendar", readme=False)
    visit("Импорт", "advisor-import", readme=False)
    visit("Передачи", "advisor-handover", readme=False)
    visit("/profile", "advisor-profile", readme=False)
    visit(f"/contacts/{first_hot}/data", "contact-data", readme=False)
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url("**/login")

    offer = session.scalars(select(Offer).where(Offer.status == OfferStatus.READY).order_by(Offer.id)).first()
    session.rollback()
    log_in(page, demo_data["marketing@demo.example"], password=demo.DEMO_PASSWORD)
    visit("Готовность", "readiness-board")
    visit("Предложения", "marketing-offers", readme=False)
    visit(f"/offers/{offer.id}", "offer-editor", readme=False)
    expect(page.locator("#live-preview")).to_contain_text("Здравствуйте")
    screenshot(page, "offer-editor", full_page=True, readme=True)
    visit(f"/offers/{offer.id}/preview", "offer-preview", full_page=True)
    visit("Календарь", "calendar")
    visit("Теги", "marketing-tags", readme=False)
    visit("Результаты", "results")
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url("**/login")

    log_in(page, demo_data["admin@demo.example"], password=demo.DEMO_PASSWORD)
    visit("Пользователи", "admin-users")
    visit(f"/admin/users/{demo_data['anna@demo.example'].id}/edit", "admin-user-edit", readme=False)
    visit("Передача контактов", "admin-transfer")
    visit("Очередь", "admin-queue")
    visit("Контакты", "contacts", readme=False)
