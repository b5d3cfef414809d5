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
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import pytest

from tests.support import PASSWORD  # the factory gives every advisor this password

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
README_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=ru-RU",
]


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable(
            "Playwright for Python is not installed: run .ci/install-browser.sh (pip install -r requirements-browser.txt)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"Chromium not found at {CHROMIUM}: run .ci/install-browser.sh (apt-get install chromium)")
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
        _unavailable(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
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


def _file_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text, flags=re.ASCII).strip("_")[:120]


def _open_page(browser, live_server, request, viewport, suffix="", **options):
    from playwright.sync_api import Error

    context = browser.new_context(base_url=live_server, viewport=viewport, locale="ru-RU", timezone_id="Europe/Moscow", **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    refused: list[str] = []  # what the Content-Security-Policy blocked (Chromium says so on the console)
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    page.csp_violations = refused
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{_file_name(request.node.name)}{suffix}.png"), full_page=True)
    except Error as exc:  # a crashed or closed tab: the test's own failure says more
        warnings.warn(f"no screenshot of {request.node.name}: {exc}", stacklevel=1)
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server, request, _clean_state):
    """A fresh browser tab (own cookies) at a desktop size. `page.js_errors` collects script errors,
    `page.csp_violations` what the Content-Security-Policy refused."""
    yield from _open_page(browser, live_server, request, DESKTOP)


@pytest.fixture
def phone_page(browser, live_server, request, _clean_state):
    """A fresh tab the size of a phone (390×844, touch, mobile viewport)."""
    yield from _open_page(
        browser, live_server, request, PHONE, suffix="-phone", is_mobile=True, has_touch=True, device_scale_factor=2
    )


def _log_in(page, user, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("Эл. почта").fill(user.email)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _screenshot(page, name: str, *, full_page: bool = True, readme: bool = False) -> Path:
    """Save a named screenshot in the artifacts. A README screenshot (readme=True) is saved as
    readme-<name>.png there and, with UPDATE_SCREENSHOTS=1, also as docs/screenshots/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{'readme-' if readme else ''}{name}.png"
    if full_page and page.locator("iframe").count():
        # A full-page capture leaves sandboxed (out-of-process) frames blank: make the window as
        # tall as the page instead, so that every frame is really on screen, then restore it.
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": page.evaluate("document.documentElement.scrollHeight")})
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
        page.set_viewport_size(size)
    else:
        page.screenshot(path=str(path), full_page=full_page)
    if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SHOTS / f"{name}.png")
    return path


def _assert_no_horizontal_scroll(page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"the page scrolls sideways: {sizes[0]}px of content in a {sizes[1]}px window"


# The helpers as fixtures: test modules cannot import from a conftest.
@pytest.fixture
def log_in():
    return _log_in


@pytest.fixture
def screenshot():
    return _screenshot


@pytest.fixture
def assert_no_horizontal_scroll():
    return _assert_no_horizontal_scroll


@pytest.fixture
def expect(browser):
    """Playwright's auto-waiting assertions (a fixture: test modules must import without Playwright)."""
    from playwright.sync_api import expect

    return expect
