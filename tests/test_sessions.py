"""Sessions end for real: log-out, a password change and deactivation end every session of the user,
"remember me" included; the cookies are HttpOnly, SameSite=Lax, Secure on https, a month at most."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import pytest

from campaigns.db import db
from campaigns.models import Advisor, Role
from tests.support import PASSWORD, Client

# These tests hold no app context between requests: Flask would reuse it for every request, and
# Flask-Login caches the current user in its `g`, so a second "device" would see the first one's user.


@pytest.fixture
def browsers(app):
    """Independent browsers (devices), each with its own cookies."""
    return lambda: Client(app.test_client())


def _logged_in(client) -> bool:
    return client.get("/").status_code == 200


def _log_in(client, user, remember: bool = False):
    token = client.csrf_token()
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302
    return response


def _log_out(client):
    assert client.post_form("/logout").status_code == 302


def _cookie(client, name: str) -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    return cookie.value


def test_a_copied_session_cookie_stops_working_after_log_out(browsers, make_user):
    client, other_client = browsers(), browsers()
    user = make_user()
    _log_in(client, user)
    other_client.set_cookie("session", _cookie(client, "session"))
    assert _logged_in(other_client)
    _log_out(client)
    assert not _logged_in(other_client)


def test_log_out_ends_the_sessions_on_every_device(browsers, make_user):
    client, other_client = browsers(), browsers()
    user = make_user()
    _log_in(client, user)
    _log_in(other_client, user)
    _log_out(client)
    assert not _logged_in(other_client)
    _log_in(client, user)  # and a new log-in works again
    assert _logged_in(client)


def test_the_remember_cookie_is_revoked_by_log_out(browsers, make_user):
    client, other_client = browsers(), browsers()
    user = make_user()
    _log_in(client, user, remember=True)
    remembered = _cookie(client, "remember_token")
    other_client.set_cookie("remember_token", remembered)  # no session cookie: "remember me" alone
    assert _logged_in(other_client)
    _log_out(client)
    fresh = browsers()
    fresh.set_cookie("remember_token", remembered)
    assert not _logged_in(fresh)
    _log_in(client, user, remember=True)
    assert _cookie(client, "remember_token") != remembered


def test_the_cookies_are_httponly_lax_secure_and_remember_me_lasts_a_month(browsers, make_user):
    client = browsers()
    user = make_user()
    response = _log_in(client, user, remember=True)  # PUBLIC_URL is https in the tests
    cookies = {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        attributes = {part.strip().split("=")[0].lower(): part for part in cookies[name].split(";")}
        assert {"httponly", "secure"} <= set(attributes), cookies[name]
        assert attributes["samesite"].strip().lower() == "samesite=lax"
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookies["remember_token"]).group(1))
    assert timedelta(days=29) <= expires - datetime.now(UTC) <= timedelta(days=31)


def test_deactivation_ends_the_users_sessions(browsers, make_user):
    client, other_client = browsers(), browsers()
    admin = make_user(role=Role.ADMIN)
    leaving = make_user(role=Role.MARKETING)
    _log_in(other_client, leaving, remember=True)
    _log_in(client, admin)
    response = client.post_form(f"/admin/users/{leaving.id}/deactivate", {"reason": "уволился"})
    assert response.status_code == 302
    assert not _logged_in(other_client)


def test_a_password_change_ends_every_session(app, browsers, make_user):
    client = browsers()
    user = make_user()
    _log_in(client, user, remember=True)
    result = app.test_cli_runner().invoke(
        args=["campaigns", "set-password", user.email], input="новый пароль 2026\nновый пароль 2026\n"
    )
    assert result.exit_code == 0, result.output
    assert not _logged_in(client)
    token = client.csrf_token()
    assert (
        client.post("/login", data={"email": user.email, "password": "новый пароль 2026", "csrf_token": token}).status_code == 302
    )


def test_a_session_from_before_session_keys_is_refused(app, browsers, make_user):
    client = browsers()
    user = make_user()
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = str(user.id)  # what a cookie held before the upgrade
        cookie_session["_fresh"] = True
    assert not _logged_in(client)
    with app.app_context():
        assert db.session.get(Advisor, user.id).session_key


def test_a_user_added_by_hand_in_sql_gets_a_session_key_at_log_in(app, browsers):
    from sqlalchemy import text

    from tests.support import PASSWORD_HASH

    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO advisors (email, name, role, is_house, active, password_hash, created_at) "
                "VALUES ('hand@studio.example.com', 'Вручную', 'advisor', false, true, :hash, "
                "CURRENT_TIMESTAMP)"
            ),
            {"hash": PASSWORD_HASH},
        )
        db.session.commit()
    client = browsers()
    _log_in(client, SimpleNamespace(email="hand@studio.example.com"))
    assert _logged_in(client)


def _change_password(client, current: str, new: str, repeat: str | None = None):
    return client.post_form("/password", {"current": current, "new": new, "repeat": new if repeat is None else repeat})


def test_changing_ones_own_password_ends_the_other_sessions_and_keeps_this_one(browsers, make_user):
    here, there = browsers(), browsers()
    user = make_user()
    _log_in(here, user)
    _log_in(there, user, remember=True)
    response = _change_password(here, PASSWORD, "новый пароль 2026")
    assert response.status_code == 302
    assert "Пароль изменён" in here.get("/").get_data(as_text=True)
    assert _logged_in(here)
    assert not _logged_in(there)
    _log_out(here)
    token = here.csrf_token()
    assert (
        here.post("/login", data={"email": user.email, "password": "новый пароль 2026", "csrf_token": token}).status_code == 302
    )


@pytest.mark.parametrize(
    ("current", "new", "repeat", "message"),
    [
        ("не тот пароль", "новый пароль 2026", None, "Неверный пароль"),
        (PASSWORD, "коротко", None, "Не короче 10 символов"),
        (PASSWORD, "новый пароль 2026", "другой пароль 2026", "Пароли не совпадают"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(browsers, make_user, current, new, repeat, message):
    client, other = browsers(), browsers()
    user = make_user()
    _log_in(client, user)
    _log_in(other, user)
    response = _change_password(client, current, new, repeat)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _logged_in(client) and _logged_in(other)


def test_guessing_the_current_password_is_limited_like_a_log_in(browsers, make_user):
    client = browsers()
    user = make_user()
    _log_in(client, user)
    codes = [_change_password(client, f"попытка {n}", "новый пароль 2026").status_code for n in range(11)]
    assert codes == [200] * 10 + [429]
    assert _change_password(client, PASSWORD, "новый пароль 2026").status_code == 429
