"""Helpers the browser tests share: the browser's settings, a tab with its error collectors,
logging in through the form, named screenshots, the sideways-scroll check.

Plain functions, imported by the tests and by conftest.py (which holds only the fixtures).
"""

from __future__ import annotations

import os
import re
import shutil
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
# Month names of the tag rules (calendar.py), for a tag dated relative to today.
RULE_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def file_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text, flags=re.ASCII).strip("_")[:120]


def open_page(browser, live_server, request, viewport, suffix="", **options):
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
        page.screenshot(path=str(ARTIFACTS / f"{file_name(request.node.name)}{suffix}.png"), full_page=True)
    except Error as exc:  # a crashed or closed tab: the test's own failure says more
        warnings.warn(f"no screenshot of {request.node.name}: {exc}", stacklevel=1)
    finally:
        context.close()


def log_in(page, user, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("Эл. почта").fill(user.email)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page, name: str, *, full_page: bool = True, readme: bool = False) -> Path:
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


def assert_no_horizontal_scroll(page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"the page scrolls sideways: {sizes[0]}px of content in a {sizes[1]}px window"
