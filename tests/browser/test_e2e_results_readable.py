"""Results a person can read: offers by send date, whole chart labels, «ещё не отправлено» instead of 0 %."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from campaigns.models import Delivery, DeliveryStatus, Role
from tests.browser.support import log_in

pytestmark = pytest.mark.browser


def test_offers_come_by_date_with_whole_labels_and_unsent_ones_say_so(page, session, factory, expect):
    year = datetime.now(UTC).year
    rails = factory.offer(tag=factory.tag("Железнодорожники", rule="1 sun aug"), year=year)
    medics = factory.offer(tag=factory.tag("Медики", rule="3 sun jun"), year=year)
    anna = factory.advisor(name="Анна Соколова")
    contact = factory.contact(owner=anna)
    session.add(
        Delivery(
            offer=rails,
            contact=contact,
            advisor_id=anna.id,
            status=DeliveryStatus.SENT,
            send_on=date(year, 7, 10),
            sent_at=datetime(year, 7, 10, 9, tzinfo=UTC),
        )
    )
    session.add(
        Delivery(
            offer=medics,
            contact=factory.contact(owner=anna),
            advisor_id=anna.id,
            status=DeliveryStatus.PLANNED,
            send_on=date(year, 5, 28),
        )
    )
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева")
    session.commit()
    log_in(page, marketing)
    page.goto("/results/")
    rows = page.locator("table.results").first.locator("tbody tr")
    assert [r.split("\t")[0].strip() for r in rows.all_inner_texts()][:2] == [f"Медики {year}", f"Железнодорожники {year}"]
    expect(rows.first).to_contain_text("ещё не отправлено")
    assert "0,0 %" not in rows.first.inner_text()
    label = page.locator("figure.chart text.chart-label", has_text=f"Железнодорожники {year}").first
    expect(label).to_have_text(f"Железнодорожники {year}")
    svg_box = page.locator("figure.chart svg").first.bounding_box()
    assert label.bounding_box()["x"] >= svg_box["x"]  # not cut at the chart's left edge
    assert page.js_errors == []


def test_in_december_the_offers_page_opens_on_the_coming_year(page, session, factory, expect, monkeypatch):
    from campaigns.web.offers import pages as offer_views

    factory.tag("Энергетики", rule="22 dec", lead_days=21)
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева")
    session.commit()
    monkeypatch.setattr(offer_views, "_today", lambda: date(2026, 12, 2))  # the year's last send date has passed
    log_in(page, marketing)
    page.goto("/offers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Предложения 2027")
