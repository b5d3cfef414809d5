"""Every response carries the security headers: pages, errors, the API, static files, /c/ and /u/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaigns.tracking import unsubscribe_token
from tests.scenes import click_path, mail_note, tracked_mail

TEMPLATES = Path(__file__).resolve().parent.parent / "campaigns" / "templates"


def assert_protected(response, referrer_policy: str = "same-origin"):
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
    assert directives["frame-ancestors"] == "'none'"
    script = directives.get("script-src", directives.get("default-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == referrer_policy


def test_pages_for_everybody_carry_the_headers(client):
    for url in ("/login", "/static/app.css", "/healthz", "/no-such-page", "/u/not-a-token", "/contacts/"):
        assert_protected(client.get(url))


def test_pages_after_log_in_and_the_api_carry_the_headers(client, factory, session):
    user = factory.advisor()
    session.commit()
    assert_protected(client.login(user))
    for url in ("/", "/contacts/", "/hot/", "/api/contacts", "/admin/users"):
        assert_protected(client.get(url))


def test_click_redirects_and_their_404_carry_the_headers(client, factory, session):
    delivery, links = tracked_mail(factory, session)
    response = client.get(click_path(delivery.id, links["catalog"].id))
    assert response.status_code == 302
    assert_protected(response, referrer_policy="no-referrer")  # the token never leaves in a Referer
    response = client.get("/c/forged.token")
    assert response.status_code == 404
    assert_protected(response)
    response = client.post("/c/forged.token")
    assert response.status_code == 405
    assert_protected(response)


def test_the_unsubscribe_page_carries_the_headers(client, factory, session, settings):
    delivery, _links = tracked_mail(factory, session)
    response = client.get(f"/u/{unsubscribe_token(delivery.id, settings.secret_key)}")
    assert response.status_code == 200
    assert_protected(response)


def test_the_stored_mail_view_keeps_its_stricter_policy(client, factory, session):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    note = mail_note(session, contact, "<p>Каталог</p>")
    session.commit()
    client.login(anna)
    response = client.get(f"/contacts/{contact.id}/mail/{note.id}")
    assert_protected(response)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "template",
    sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if not p.relative_to(TEMPLATES).as_posix().startswith("emails/")
    ),
)
def test_no_page_template_has_inline_script(template):
    text = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>: move it to static/"
    assert not re.search(r"\son[a-z]+\s*=", text), "on…= handler: use a listener in static/app.js"
    assert "javascript:" not in text
