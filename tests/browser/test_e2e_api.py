"""The API's pages in a real browser (#19): the documentation (Redoc, vendored) renders under the
Content-Security-Policy, and a person makes an API key that works at once and is shown only once."""

from __future__ import annotations

import json

import pytest

from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


def test_the_api_documentation_renders_from_this_site_only(page, expect, live_server):
    fetched: list[str] = []  # what reached a server (a request the policy refuses gets no response)
    page.on("response", lambda response: fetched.append(response.url))
    page.goto("/api/docs")
    expect(page.get_by_text("Campaigns API").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Контакты, которые видит пользователь").first).to_be_attached()
    assert fetched and all(url.startswith(live_server) for url in fetched), fetched
    # Redoc's own footer asks for its maker's logo from a CDN; the policy refuses it (and Redoc then
    # leaves the image out). Nothing else is refused.
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in refused for refused in page.csp_violations), page.csp_violations
    assert page.js_errors == []


def test_a_key_made_on_its_page_opens_the_api(page, session, factory, expect):
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, last_name="Кондрашов")
    session.commit()
    log_in(page, anna)
    page.get_by_role("link", name="API").first.click()
    page.get_by_label("Название ключа").fill("CRM")
    page.get_by_role("button", name="Создать ключ").click()
    token = page.locator("#new-api-key").inner_text()
    screenshot(page, "api-keys")
    assert token.startswith("ck_")
    answer = page.request.get("/api/contacts", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    assert [c["last_name"] for c in json.loads(answer.body())["items"]] == ["Кондрашов"]
    page.reload()  # the page came by a redirect: a reload asks for it again, it makes no second key
    expect(page.get_by_role("cell", name="CRM")).to_have_count(1)
    assert token not in page.content()
    assert page.csp_violations == [] and page.js_errors == []
