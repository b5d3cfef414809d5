"""Browser fixtures: the app served on a random local port, driven by Debian's Chromium
through Playwright for Python.

Nothing is downloaded: Playwright is pointed at /usr/bin/chromium (`CHROMIUM_PATH` to
change it) and never at its own browser builds. Without Playwright or Chromium the browser
tests are skipped with the reason shown by `-ra`; with REQUIRE_BROWSER=1 (CI, after
.ci/install-browser.sh) a missing browser fails them instead.

Every test that uses `page` leaves a screenshot in tests/artifacts/screenshots/. The README
screenshots in docs/screenshots/ (taken by test_e2e_tour.py on the demo data) are rewritten
only with UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from datetime import date, timedelta

import pytest

from campaigns.models import Link, OfferStatus, Role, TagKind
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, RULE_MONTHS, open_page, unavailable


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable(
            "Playwright for Python is not installed: run .ci/install-browser.sh (pip install -r requirements-browser.txt)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium not found at {CHROMIUM}: run .ci/install-browser.sh (apt-get install chromium)")
    # Playwright's launch() already gives each browser a fresh temporary profile (user-data-dir)
    # and deletes it on close; the extra directory below holds crash dumps and the like.
    scratch = tempfile.mkdtemp(prefix="campaigns-chromium-")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            downloads_path=scratch,
            # LANGUAGE picks Chromium's UI locale (chromium-l10n): date inputs as дд.мм.гггг.
            env={**os.environ, "HOME": scratch, "LANGUAGE": "ru"},
        )
    except Error as exc:
        playwright.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        unavailable(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
    yield browser
    browser.close()
    playwright.stop()
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server(app):
    """The test app on 127.0.0.1:<random port>, in a thread; it shares the test database."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def page(browser, live_server, request, _clean_state):
    """A fresh browser tab (own cookies) at a desktop size. `page.js_errors` collects script errors,
    `page.csp_violations` what the Content-Security-Policy refused."""
    yield from open_page(browser, live_server, request, DESKTOP)


@pytest.fixture
def phone_page(browser, live_server, request, _clean_state):
    """A fresh tab the size of a phone (390×844, touch, mobile viewport)."""
    yield from open_page(
        browser, live_server, request, PHONE, suffix="-phone", is_mobile=True, has_touch=True, device_scale_factor=2
    )


@pytest.fixture
def expect(browser):
    """Playwright's auto-waiting assertions (a fixture: test modules must import without Playwright)."""
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def draft_offer(session, factory):
    """Marketing (Мария) and a draft offer for a holiday a month away, with one contact in its audience."""
    # A holiday a month from now, so that its mailing is on the 90-day board whatever today is.
    holiday = date.today() + timedelta(days=30)
    if (holiday.month, holiday.day) == (2, 29):
        holiday += timedelta(days=1)
    tag = factory.tag(
        "День энергетика", kind=TagKind.HOLIDAY, rule=f"{holiday.day} {RULE_MONTHS[holiday.month - 1]}", lead_days=7
    )
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, tags=[tag], first_name="Олег", last_name="Кондрашов", company="Тойота")
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Лебедева", email="maria@studio.example.com")
    offer = factory.offer(tag=tag, year=holiday.year, status=OfferStatus.DRAFT, subject="Черновик", body="Текст")
    offer.links.append(Link(name="discount", url="https://gifts.example.com/sale", label="Скидка", weight=3))
    session.commit()
    return marketing, offer
