"""The results page in a real browser: charts drawn server-side, readable on a phone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from campaigns.models import Click, Delivery, DeliveryStatus, Link, Role, Verdict
from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def marketing(session, factory):
    year = datetime.now(UTC).year
    anna, igor = factory.advisor(name="Анна Соколова"), factory.advisor(name="Игорь Петров")
    for n, tag_name in enumerate(("Строители", "Медики", "8 марта")):
        offer = factory.offer(tag=factory.tag(tag_name), year=year)
        link = Link(offer=offer, name="discount", url="https://gifts.example.com/d", label="Скидка", weight=3)
        session.add(link)
        for i in range(6):
            owner = anna if i % 2 else igor
            delivery = Delivery(
                offer=offer,
                contact=factory.contact(owner=owner),
                advisor_id=owner.id,
                status=DeliveryStatus.SENT,
                send_on=date(year, 1, 10),
                sent_at=datetime(year, 1, 10, 9, tzinfo=UTC),
            )
            session.add(delivery)
            session.flush()
            if i <= n + 1:
                session.add(
                    Click(
                        delivery=delivery,
                        link=link,
                        contact_id=delivery.contact_id,
                        reason="test",
                        verdict=Verdict.HUMAN if i % 3 else Verdict.BOT,
                        clicked_at=delivery.sent_at + timedelta(hours=i + 1),
                    )
                )
    user = factory.advisor(name="Мария Маркетинг", role=Role.MARKETING)
    session.commit()
    return user


@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_it_shows_the_results_with_charts(request, viewport, marketing):
    page = request.getfixturevalue(viewport)
    log_in(page, marketing)
    page.goto("/results/")
    assert page.locator("figure.chart svg").count() >= 3
    assert "Строители" in page.locator("table.results").first.inner_text()
    assert_no_horizontal_scroll(page)
    assert page.js_errors == []
    screenshot(page, f"results-{viewport}")


@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_each_offer_lists_its_links_clicks(request, viewport, marketing, expect):
    """Per offer, each link: human clicks, the contacts who clicked it, scanners apart; on a phone the
    stacked rows keep their column names."""
    page = request.getfixturevalue(viewport)
    log_in(page, marketing)
    page.goto("/results/")
    table = page.locator("table.links")
    expect(table).to_be_visible()
    # «Строители»: one person, one scanner; «8 марта»: two people (each a contact), two scanners.
    builders = table.locator("tbody", has_text="Строители").locator("tr")
    expect(builders).to_have_count(1)
    assert [builders.locator("td").nth(i).inner_text().split(":")[-1].strip() for i in range(1, 5)] == ["Скидка", "1", "1", "1"]
    march = table.locator("tbody", has_text="8 марта").locator("tr")
    assert [march.locator("td").nth(i).inner_text().split(":")[-1].strip() for i in range(1, 5)] == ["Скидка", "2", "2", "2"]
    if viewport == "phone_page":
        label = table.locator("td[data-label='Контактов кликнули']").first.evaluate(
            "td => getComputedStyle(td, '::before').content"
        )
        assert "Контактов кликнули" in label
    assert page.js_errors == []
