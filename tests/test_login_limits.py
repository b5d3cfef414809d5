"""Failed log-ins are limited per client address and per account; behind TRUSTED_PROXIES the
address is the client's own; hammering a lock does not prolong it."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from campaigns import create_app, signin
from campaigns.config import ConfigError, load_settings
from tests.support import PASSWORD, Clock


@pytest.fixture
def proxied_app(app, settings):
    """The app behind one reverse proxy (TRUSTED_PROXIES=1), on the same database and Redis."""
    behind = create_app(dataclasses.replace(settings, trusted_proxies=1))
    behind.config.update(TESTING=True)
    return behind


def _attempt(client, email: str, password: str, client_address: str | None = None):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    headers = {"X-Forwarded-For": client_address} if client_address else {}
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers,
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )  # the proxy's own address


def _users(factory, session, count=2):
    users = [factory.advisor() for _ in range(count)]
    session.commit()
    return users


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_lock(client, factory, session):
    anna, _ = _users(factory, session)
    codes = [_attempt(client.raw, anna.email, "wrong", f"203.0.113.{n}").status_code for n in range(12)]
    assert codes == [200] * 10 + [429] * 2


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(proxied_app, factory, session):
    anna, igor = _users(factory, session)
    guesser, colleague = proxied_app.test_client(), proxied_app.test_client()
    codes = [_attempt(guesser, anna.email, "wrong", "203.0.113.7").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    locked = _attempt(guesser, igor.email, PASSWORD, "203.0.113.7")
    assert locked.status_code == 429 and "Слишком много неудачных попыток входа" in locked.get_data(as_text=True)
    # Another person behind the same proxy is not locked out by the guesser.
    assert _attempt(colleague, igor.email, PASSWORD, "198.51.100.20").status_code == 302


def test_an_account_is_locked_after_failures_from_many_addresses(proxied_app, factory, session):
    anna, igor = _users(factory, session)
    client = proxied_app.test_client()
    limit = int(signin.ACCOUNT_LIMITS[0].split()[0])
    codes = {_attempt(client, anna.email.upper(), "wrong", f"203.0.113.{n}").status_code for n in range(limit)}
    assert codes == {200}
    # Even the right password from a fresh address is refused (unchecked) while the account is locked…
    assert _attempt(client, anna.email, PASSWORD, "198.51.100.1").status_code == 429
    # …and only that account: another one logs in from the same address.
    assert _attempt(client, igor.email, PASSWORD, "198.51.100.1").status_code == 302


def test_refused_attempts_do_not_prolong_the_lock(app, make_user, monkeypatch):
    # The limiter's clock is the test's: scrypt's slowness under load cannot move a window.
    clock = Clock(time.time()).install(monkeypatch)
    monkeypatch.setattr(signin, "ADDRESS_LIMITS", ("3 per minute",))
    anna = make_user()
    client = app.test_client()
    first_failure = clock.now
    for _ in range(3):
        assert _attempt(client, anna.email, "wrong").status_code == 200
        clock.advance(1)
    # Locked: keep knocking (wrong and right passwords) until just before the first failure leaves the window.
    for moment, password in zip((3, 10, 20, 30, 40, 50, 59.5), ["wrong", PASSWORD] * 4, strict=False):
        clock.now = first_failure + moment
        response = _attempt(client, anna.email, password)
        assert response.status_code == 429
        assert "Попробуйте снова через 1 минуту" in response.get_data(as_text=True)
    clock.now = first_failure + 60.5
    # A minute after the first failure the lock is over, however often it was knocked on meanwhile.
    assert _attempt(client, anna.email, PASSWORD).status_code == 302


def test_a_successful_log_in_is_not_counted_as_a_failure(app, make_user):
    anna = make_user()
    for _ in range(12):
        assert _attempt(app.test_client(), anna.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("raw", ["-1", "two", "1.5"])
def test_a_wrong_trusted_proxies_value_stops_start_up_naming_it(tmp_path, raw):
    with pytest.raises(ConfigError, match="^TRUSTED_PROXIES"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "TRUSTED_PROXIES": raw})


def test_trusted_proxies_default_to_none(tmp_path):
    assert load_settings({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"}).trusted_proxies == 0
