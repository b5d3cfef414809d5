"""The advisor's home page in a real browser: hot list first, then today's calls, then idle contacts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from campaigns.models import Click, Delivery, DeliveryStatus, Link, Verdict
from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


def _clicked(session, factory, contact, *, hours_ago=2, label="Скидка"):
    offer = factory.offer()
    link = Link(offer=offer, name="discount", url="https://gifts.example.com/sale", label=label, weight=3)
    delivery = Delivery(
        offer=offer,
        contact=contact,
        advisor_id=contact.owner_id,
        status=DeliveryStatus.SENT,
        send_on=date.today(),
        sent_at=datetime.now(UTC) - timedelta(days=1),
    )
    session.add_all([link, delivery])
    session.flush()
    session.add(
        Click(
            delivery=delivery,
            link=link,
            contact=contact,
            verdict=Verdict.HUMAN,
            clicked_at=datetime.now(UTC) - timedelta(hours=hours_ago),
        )
    )
    session.flush()


@pytest.fixture
def morning(session, factory):
    anna = factory.advisor(name="Анна Соколова")
    hot = factory.contact(owner=anna, first_name="Олег", last_name="Кондрашов", company="Тойота", phone="+74951234567")
    _clicked(session, factory, hot)
    factory.contact(
        owner=anna, first_name="Елена", last_name="Смирнова", company="ГК Рики", next_contact_on=date.today() - timedelta(days=1)
    )
    factory.contact(owner=anna, first_name="Пётр", last_name="Иванов", company="Северсталь")
    factory.contact(first_name="Чужой", last_name="Клиент")  # another advisor's
    session.commit()
    return anna


def test_it_puts_the_hot_list_first_then_calls_then_idle_contacts(page, morning):
    log_in(page, morning)

    headings = page.locator("main h2").all_inner_texts()
    assert headings[:3] == ["Горячий список", "Позвонить сегодня", "Не в работе"]
    hot = page.locator(".hot-entry")
    assert hot.count() == 1
    assert "Кондрашов Олег" in hot.inner_text() and "Скидка" in hot.inner_text()
    assert hot.get_by_role("link", name="Позвонить +74951234567").get_attribute("href") == "tel:+74951234567"
    assert "Смирнова Елена" in page.locator("section", has=page.locator("#home-due")).inner_text()
    assert "3 контакта" in page.locator("section", has=page.locator("#home-idle")).inner_text()
    assert "Чужой" not in page.locator("main").inner_text()
    assert page.js_errors == []
    screenshot(page, "home")


def test_it_fits_the_home_page_on_a_phone(phone_page, morning):
    log_in(phone_page, morning)

    assert phone_page.locator(".hot-entry").is_visible()
    assert_no_horizontal_scroll(phone_page)
    screenshot(phone_page, "home-phone")


def test_it_shows_marketing_the_mailings_ahead(page, session, factory):
    from campaigns.models import OfferStatus, Role, TagKind

    soon = date.today() + timedelta(days=12)
    months = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    tag = factory.tag("День химика", kind=TagKind.HOLIDAY, rule=f"{min(soon.day, 28)} {months[soon.month - 1]}", lead_days=0)
    factory.offer(tag=tag, year=soon.year, status=OfferStatus.DRAFT)
    maria = factory.advisor(role=Role.MARKETING, name="Мария Лебедева")
    session.commit()

    log_in(page, maria)
    row = page.locator("table.home-ahead tr", has_text="День химика")
    assert "черновик" in row.inner_text()
    assert page.js_errors == []
    screenshot(page, "home-marketing")
