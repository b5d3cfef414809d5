"""The guard against server-side request forgery (netguard.py), for both of its users: an advisor's
«Проверить подключение» must not turn the server into a probe of internal hosts and ports, and
admin's webhooks keep their rule (#16)."""

from __future__ import annotations

import socket

import pytest

from campaigns import netguard, replies, webhooks


def _box(host: str, port: int) -> replies.MailboxSettings:
    return replies.MailboxSettings(host, port, port == 993, "anna@studio.example.com", "app-password")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1", "fe80::1", "0.0.0.0"]
)
def test_an_advisor_cannot_reach_internal_hosts(host, monkeypatch):
    monkeypatch.delenv(replies.ALLOWED_NETWORKS_ENV, raising=False)
    with pytest.raises(replies.MailboxError, match="внутренний"):
        replies.checked_address(_box(host, 993))


@pytest.mark.parametrize("port", [22, 25, 80, 5432, 6379, 8080])
def test_only_imap_ports_are_reached_on_a_public_host(port, monkeypatch):
    monkeypatch.delenv(replies.ALLOWED_NETWORKS_ENV, raising=False)
    with pytest.raises(replies.MailboxError, match=f"Порт {port} — не порт IMAP"):
        replies.checked_address(_box("93.184.216.34", port))
    assert replies.checked_address(_box("93.184.216.34", 993)) == "93.184.216.34"
    assert replies.checked_address(_box("93.184.216.34", 143)) == "93.184.216.34"


def test_a_network_the_admin_listed_is_allowed_with_any_port(monkeypatch):
    monkeypatch.setenv(replies.ALLOWED_NETWORKS_ENV, "10.20.0.0/16, not-a-network")
    assert replies.checked_address(_box("10.20.1.5", 993)) == "10.20.1.5"
    assert replies.checked_address(_box("10.20.1.5", 1143)) == "10.20.1.5"
    with pytest.raises(replies.MailboxError, match="внутренний"):
        replies.checked_address(_box("10.30.1.5", 993))  # another network stays refused
    # The mailbox's list does not open webhooks, nor the other way round.
    monkeypatch.delenv(webhooks.ALLOWED_NETWORKS_ENV, raising=False)
    with pytest.raises(webhooks.WebhookError):
        webhooks.resolve("http://10.20.1.5/hook")


def test_one_guard_for_both(monkeypatch):
    monkeypatch.setenv("SOME_ALLOWED", "127.0.0.0/8")
    assert netguard.check_host("127.0.0.1", 80, "SOME_ALLOWED").vouched
    assert not netguard.check_host("93.184.216.34", 80, "SOME_ALLOWED").vouched
    with pytest.raises(netguard.Refused, match="не находится"):
        netguard.check_host("no-such-host.invalid", 993, "SOME_ALLOWED")
    assert netguard.is_public(netguard.ipaddress.ip_address("93.184.216.34"))
    assert not netguard.is_public(netguard.ipaddress.ip_address("::ffff:10.0.0.1"))


def test_the_connection_test_on_the_page_does_not_touch_an_internal_port(client, session, factory, monkeypatch):
    monkeypatch.delenv(replies.ALLOWED_NETWORKS_ENV, raising=False)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    anna = factory.advisor()
    session.commit()
    client.login(anna)
    try:
        response = client.post_form(
            "/mailbox",
            {
                "host": "127.0.0.1",
                "port": str(port),
                "security": "plain",
                "username": "anna",
                "password": "x",
                "folder": "INBOX",
                "action": "test",
            },
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "внутренний" in page and replies.ALLOWED_NETWORKS_ENV in page
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody knocked
        response = client.post_form(
            "/mailbox",
            {
                "host": "93.184.216.34",
                "port": "6379",
                "security": "plain",
                "username": "anna",
                "password": "x",
                "folder": "INBOX",
                "action": "test",
            },
        )
        assert "не порт IMAP" in response.get_data(as_text=True)
    finally:
        listener.close()
