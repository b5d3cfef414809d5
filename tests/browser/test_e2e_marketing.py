"""Marketing in a real browser: from the readiness board to an edited offer and its preview."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser

RULE_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def test_it_prepares_an_offer_and_previews_it(page, draft_offer, expect):
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
    assert "Скидка: [Скидка]" in text  # the link by its label, not a tracking address
    assert "https://campaigns.example.com/c/" not in text
    assert "https://gifts.example.com/sale" in page.locator("table.preview-links").inner_text()
    assert "С уважением,\nАнна Соколова" in text
    assert "Подарки ко Дню энергетика для «Тойота»" in page.locator("table.headers").first.inner_text()
    # The technical headers are there, folded away until asked for.
    expect(page.get_by_text("List-Unsubscribe-Post")).to_be_hidden()
    page.get_by_text(re.compile("Технические заголовки")).click()
    expect(page.get_by_text("List-Unsubscribe-Post")).to_be_visible()
    page.get_by_text(re.compile("Технические заголовки")).click()
    html = page.frame_locator("iframe.mail-html").locator("body")
    assert "Мы подобрали подарки для коллег из «Тойота»." in html.inner_text()
    assert page.js_errors == []
    screenshot(page, "offer-preview")


def test_it_shows_a_template_error_beside_the_body(page, draft_offer):
    marketing, offer = draft_offer
    log_in(page, marketing)
    page.goto(f"/offers/{offer.id}")

    page.get_by_label("Текст письма").fill("{{ greeting }\n\nТекст")
    page.get_by_role("button", name="Сохранить").click()
    body = page.locator(".field", has=page.get_by_label("Текст письма"))
    assert "has-error" in body.get_attribute("class")
    assert body.locator(".error").inner_text() != ""


def test_a_test_send_is_marked_and_its_link_works_without_counting(
    page, browser, live_server, draft_offer, session, settings, expect
):
    import contextlib
    import email
    import mailbox
    from email.policy import default as default_policy

    from playwright.sync_api import Error as PlaywrightError
    from sqlalchemy import func, select

    from campaigns import clicks
    from campaigns.extensions import redis_client
    from campaigns.models import Click

    marketing, offer = draft_offer
    offer.body = "{{ greeting }}\n\nСкидка: {{ links.discount }}"
    session.commit()
    outbox = mailbox.Maildir(settings.mail.path, create=True)
    outbox.clear()
    log_in(page, marketing)
    page.goto(f"/offers/{offer.id}/preview")
    page.get_by_role("button", name=re.compile("Отправить тест себе")).click()
    expect(page.locator(".flash.success")).to_contain_text("Тестовое письмо отправлено")
    assert len(outbox) == 1
    mail = email.message_from_bytes(outbox.get_bytes(next(iter(outbox.keys()))), policy=default_policy)
    assert str(mail["Subject"]).startswith("[ТЕСТ] ")
    link = re.search(r"https://campaigns\.example\.com(/c/\S+)", mail.get_body(("plain",)).get_content()).group(1)

    # The tester opens the link like the client would (no session of ours): it leads to the shop.
    tester = browser.new_context(locale="ru-RU")
    tab = tester.new_page()
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    with contextlib.suppress(PlaywrightError):  # gifts.example.com does not resolve here; the redirect is what counts
        tab.goto(live_server + link)
    tester.close()
    assert "https://gifts.example.com/sale" in requested, requested
    clicks.flush_clicks(session, redis_client(), now=datetime.now(UTC) + timedelta(days=1))
    assert session.scalar(select(func.count()).select_from(Click)) == 0
