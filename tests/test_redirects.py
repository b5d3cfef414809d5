"""Redirects to a user-supplied address (log-in `next`, a Referer) stay on this site and never fail."""

from __future__ import annotations

import io

import pytest

from campaigns.models import Role
from tests.support import PASSWORD

HOSTILE_TARGETS = [
    "//evil.example/x",
    "/%09/evil.example",
    "/%0d%0aSet-Cookie:%20a=b",
    "/%0a/evil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "http://localhost@evil.example/",
    "///evil.example",
    "/%20/evil.example",
    "http://[evil/",
    "evil.example",
    "/%7F/evil.example",
]


def _log_in_with_next(client, user, next_value: str):
    token = client.csrf_token()
    return client.post(f"/login?next={next_value}", data={"email": user.email, "password": PASSWORD, "csrf_token": token})


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_log_in_with_a_hostile_next_lands_on_the_home_page(client, factory, session, target):
    user = factory.advisor()
    session.commit()
    response = _log_in_with_next(client, user, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_log_in_follows_a_local_next_with_its_query(client, factory, session):
    user = factory.advisor()
    session.commit()
    response = _log_in_with_next(client, user, "/contacts/%3Fq%3D%D0%90")
    assert response.headers["Location"] == "/contacts/?q=%D0%90"


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        ("https://evil.example/offers/1", "/offers"),
        ("//evil.example/offers/1", "/offers"),
        ("http://localhost:8080/offers/1", "/offers"),
        ("ftp://localhost/offers/1", "/offers"),
        ("http://localhost//evil.example/", "/offers"),
        ("http://localhost/offers/7?tab=1", "/offers/7?tab=1"),
    ],
)
def test_a_too_large_upload_goes_back_only_to_a_page_of_this_site(client, factory, session, app, monkeypatch, referer, expected):
    marketing = factory.advisor(role=Role.MARKETING)
    offer = factory.offer()
    session.commit()
    client.login(marketing)
    token = client.csrf_token("/")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post(
        f"/offers/{offer.id}/catalog",
        headers={"Referer": referer},
        data={"catalog": (io.BytesIO(b"x" * 4096), "big.pdf"), "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected
