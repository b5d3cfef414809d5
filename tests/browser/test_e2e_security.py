"""The Content-Security-Policy in a real browser: the pages work with no inline script and nothing is refused."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

pytestmark = pytest.mark.browser


def test_the_pages_run_under_the_policy_without_a_violation(page, draft_offer, expect):  # noqa: F811
    marketing, offer = draft_offer
    log_in(page, marketing)
    # The live preview is an htmx POST: it only works when static/app.js added the CSRF header.
    page.goto(f"/offers/{offer.id}")
    page.get_by_label("Текст письма").fill("{{ greeting }}\n\nПодарки для «{{ company }}».\n\n{{ advisor.signature }}")
    expect(page.locator("#live-preview")).to_contain_text("Подарки для «Тойота».")
    for url in ("/", "/board", "/offers", "/calendar", "/tags", "/results/", "/no-such-page"):
        page.goto(url)
    assert page.locator("h1").inner_text() == "Страница не найдена"
    assert page.csp_violations == []
    assert page.js_errors == []


def test_an_inline_script_would_be_refused(page, draft_offer):  # noqa: F811
    """The policy is really enforced: a script injected into the page does not run."""
    marketing, _offer = draft_offer
    log_in(page, marketing)
    page.goto("/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("() => window.injected") is None
    assert page.csp_violations
