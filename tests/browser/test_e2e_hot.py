"""The hot list in a real browser, on a phone: call, log the call, the contact leaves the list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from campaigns.models import Click, Contact, Delivery, DeliveryStatus, Link, Verdict
from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def anna(session, factory):
    anna = factory.advisor(name="Анна Соколова")
    offer = factory.offer()
    link = Link(offer=offer, name="discount", url="https://gifts.example.com/sale", label="Скидка", weight=3)
    session.add(link)
    for company, phone in (("Тойота", "+74951234567"), ("ГК Рики", "+78121234567")):
        contact = factory.contact(owner=anna, company=company, phone=phone)
        delivery = Delivery(
            offer=offer,
            contact=contact,
            advisor_id=anna.id,
            status=DeliveryStatus.SENT,
            send_on=date.today(),
            sent_at=datetime.now(UTC) - timedelta(days=1),
        )
        session.add(delivery)
        session.flush()
        session.add(
            Click(
                delivery=delivery,
                link=link,
                contact=contact,
                verdict=Verdict.HUMAN,
                reason="test",
                clicked_at=datetime.now(UTC) - timedelta(hours=2),
            )
        )
    session.commit()
    return anna


def test_it_works_the_hot_list_on_a_phone(phone_page, anna, session):
    page = phone_page
    log_in(page, anna)
    page.goto("/hot/")
    rows = page.locator("table.hot-list tbody tr")
    assert rows.count() == 2
    toyota = rows.filter(has_text="Тойота")
    call = toyota.get_by_role("link", name="+74951234567")
    assert call.get_attribute("href") == "tel:+74951234567"
    # The phone icon is drawn (inline SVG), not an emoji glyph a browser may lack.
    assert "📞" not in call.inner_text() and call.locator("svg").bounding_box()["width"] > 10
    # The name leads to the card.
    assert "/contacts/" in toyota.get_by_role("link", name="Петров Олег").get_attribute("href")
    tap = toyota.get_by_role("button", name="Не интересно").bounding_box()
    assert tap["height"] >= 40 and tap["width"] >= 300  # a thumb-sized, full-width target
    assert_no_horizontal_scroll(page)
    screenshot(page, "hot-phone")

    toyota.locator("summary", has_text="Записать звонок").click()
    toyota.get_by_label("Результат звонка").fill("Просят КП на 200 наборов")
    toyota.get_by_label("Интерес").select_option("yes")
    toyota.get_by_role("button", name="Сохранить").click()
    assert "Звонок записан: Петров Олег (Тойота)" in page.locator(".flash").inner_text()  # the person, then the firm
    assert page.locator("table.hot-list tbody tr").count() == 1
    session.expire_all()
    assert session.query(Contact).filter_by(company="Тойота").one().next_contact_on is not None
    assert page.js_errors == []
