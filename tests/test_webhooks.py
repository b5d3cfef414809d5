"""Webhooks (#19) against a real HTTP receiver on a random local port. The receiver checks each
signature with the code the README gives (its «Webhooks» Python block, executed as is)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from campaigns import clicks, tasks, webhooks
from campaigns.extensions import redis_client
from campaigns.models import Advisor, Delivery, DeliveryStatus, Link, Role, WebhookAttempt, WebhookEndpoint
from tests.scenes import bearer, due_delivery, make_key, register_webhook, run_jobs, smtp_settings
from tests.support import Receiver, free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_verify():
    """`verify` exactly as the README's webhook section writes it."""
    section = README.read_text(encoding="utf-8").split("### Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 — our own documentation
    return namespace["verify"]


@pytest.fixture(autouse=True)
def _fresh_subscriptions():
    webhooks._subscribed.clear()
    yield
    webhooks._subscribed.clear()


def test_an_unsubscribe_reaches_the_receiver_signed(app, client, session, factory, receiver, monkeypatch):
    endpoint = register_webhook(client, session, factory, receiver.url)
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    key = bearer(make_key(client, session, anna))
    assert client.post(f"/api/contacts/{contact.id}/unsubscribe", json={"how": "по телефону"}, headers=key).status_code == 200
    run_jobs(app, monkeypatch)
    [request] = receiver.requests
    verify = readme_verify()
    header = request["headers"]["X-Campaigns-Signature"]
    assert verify(endpoint.secret, header, request["body"])
    assert not verify(endpoint.secret + "x", header, request["body"])
    assert not verify(endpoint.secret, header, request["body"] + b" ")
    event = json.loads(request["body"])
    assert (event["event"], event["data"]["contact_id"]) == ("contact.unsubscribed", contact.id)
    assert request["headers"]["X-Campaigns-Delivery"] == event["id"] and request["path"] == "/hooks/campaigns"
    session.expire_all()
    [attempt] = session.scalars(select(WebhookAttempt)).all()
    assert attempt.status_code == 200 and attempt.error is None and attempt.duration_ms >= 0
    client.login(session.get(Advisor, endpoint.created_by_id))
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "contact.unsubscribed" in page and "200" in page and "мс" in page


def test_a_person_clicking_is_sent_and_a_scanner_is_not(app, client, session, factory, receiver, monkeypatch):
    register_webhook(client, session, factory, receiver.url, events=("contact.clicked",))
    offer = factory.offer()
    link = Link(offer=offer, name="catalog", url="https://gifts.example.com/catalog")
    session.add(link)
    sent = datetime.now(UTC) - timedelta(days=1)
    person, scanner = (
        Delivery(offer=offer, contact=factory.contact(), send_on=sent.date(), status=DeliveryStatus.SENT, sent_at=sent)
        for _ in range(2)
    )
    session.add_all([person, scanner])
    session.commit()
    at = (sent + timedelta(hours=3)).timestamp()
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"
    clicks.record_click(redis_client(), person.id, link.id, method="GET", ip="95.165.10.20", user_agent=firefox, at=at)
    clicks.record_click(redis_client(), scanner.id, link.id, method="HEAD", ip="95.165.10.21", user_agent=firefox, at=at)
    clicks.flush_clicks(session, redis_client(), now=datetime.now(UTC) + timedelta(days=1))
    session.commit()
    run_jobs(app, monkeypatch)
    assert [json.loads(r["body"])["data"]["delivery_id"] for r in receiver.requests] == [person.id]


def test_delivery_events_carry_the_contact_and_offer(app, client, session, factory, receiver, monkeypatch):
    register_webhook(client, session, factory, receiver.url, events=("delivery.sent", "delivery.failed"))
    offer = factory.offer()
    contact = factory.contact()
    delivery = Delivery(
        offer=offer,
        contact=contact,
        send_on=datetime.now(UTC).date(),
        status=DeliveryStatus.FAILED,
        last_error="550 5.1.1 no such user",
    )
    session.add(delivery)
    session.commit()
    webhooks.delivery_outcomes([(delivery.id, "failed"), (delivery.id, "throttled")])
    run_jobs(app, monkeypatch)
    [request] = receiver.requests
    event = json.loads(request["body"])
    assert event["event"] == "delivery.failed"
    assert (event["data"]["contact_id"], event["data"]["offer_id"], event["data"]["error"]) == (
        contact.id,
        offer.id,
        "550 5.1.1 no such user",
    )


def test_a_failing_receiver_is_retried_later_then_paused_and_admin_told(
    app, client, session, factory, receiver, monkeypatch, settings
):
    receiver.status = 503
    endpoint = register_webhook(client, session, factory, receiver.url, events=("delivery.sent",))
    body = json.dumps({"id": "e1", "event": "delivery.sent", "data": {}})
    queue = Queue(webhooks.QUEUE, connection=redis_client())
    assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e1", body, 1, queue=queue) is False
    assert len(receiver.requests) == 1
    assert ScheduledJobRegistry(queue=queue).count == 1  # the retry waits BACKOFF[0]
    session.expire_all()
    attempt = session.scalar(select(WebhookAttempt))
    assert (attempt.status_code, attempt.error) == (503, "ответ 503")
    endpoint = session.get(WebhookEndpoint, endpoint.id)
    endpoint.failing_since = datetime.now(UTC) - timedelta(days=1, minutes=1)
    session.commit()
    outbox = Path(settings.mail_url.split(":", 1)[1])
    before = set(outbox.rglob("*")) if outbox.exists() else set()
    webhooks.deliver(session, endpoint.id, "delivery.sent", "e1", body, 2, queue=queue, settings=settings)
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).paused_at is not None
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in set(outbox.rglob("*")) - before
        if p.is_file()
    ]
    admins = session.scalars(select(Advisor.email).where(Advisor.role == Role.ADMIN)).all()
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in mails) == sorted(admins)
    assert all(str(m["Subject"]) == f"Вебхук приостановлен: {receiver.url}" for m in mails)
    # Paused: nothing more goes there, and new events are not even queued for it.
    assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e1", body, 3, queue=queue) is False
    assert len(receiver.requests) == 2
    assert webhooks.fan_out(session, {"id": "e2", "event": "delivery.sent", "data": {}}, queue=queue) == 0
    # Admin resumes it on the page.
    client.login(session.get(Advisor, endpoint.created_by_id))
    assert client.post_form(f"/admin/webhooks/{endpoint.id}/resume").status_code == 302
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).paused_at is None


def test_internal_addresses_are_refused_unless_allowed(app, client, session, factory, monkeypatch):
    server = Receiver()
    try:
        monkeypatch.delenv(webhooks.ALLOWED_NETWORKS_ENV, raising=False)
        endpoint = register_webhook(client, session, factory, server.url, events=("delivery.sent",))
        queue = Queue(webhooks.QUEUE, connection=redis_client())
        assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e1", "{}", 1, queue=queue) is False
        assert server.requests == [] and ScheduledJobRegistry(queue=queue).count == 0  # refused, not retried
        session.expire_all()
        assert "внутренний" in session.scalar(select(WebhookAttempt)).error
        monkeypatch.setenv(webhooks.ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
        assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e2", "{}", 1, queue=queue) is True
        assert len(server.requests) == 1
    finally:
        server.close()
    monkeypatch.delenv(webhooks.ALLOWED_NETWORKS_ENV, raising=False)
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://[::1]:8080/",
        "http://localhost/",
        "http://192.168.0.10/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ):
        with pytest.raises(webhooks.WebhookError):
            webhooks.resolve(url)
    for url in ("ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http://user:pw@example.com/"):
        assert webhooks.check_url(url)


def test_the_page_refuses_a_bad_target_and_is_admins_only(client, session, factory):
    admin, advisor = factory.advisor(role=Role.ADMIN), factory.advisor()
    session.commit()
    client.login(advisor)
    assert client.get("/admin/webhooks/").status_code == 403
    client.post_form("/logout")
    client.login(admin)
    response = client.post_form("/admin/webhooks/", {"url": "ftp://crm.example.ru/", "events": ["delivery.sent"]})
    assert response.status_code == 422 and "http:// или https://" in response.get_data(as_text=True)
    response = client.post_form("/admin/webhooks/", {"url": "https://crm.example.ru/"})
    assert "Выберите хотя бы одно событие" in response.get_data(as_text=True)
    assert session.scalar(select(WebhookEndpoint)) is None


def test_emitting_with_redis_down_neither_fails_nor_waits(app, client, session, factory, monkeypatch):
    endpoint = WebhookEndpoint(url="https://crm.example.ru/h", events="contact.unsubscribed", secret="s")
    session.add(endpoint)
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    key = bearer(make_key(client, session, anna))
    # Redis gone: a port nobody listens on, for the app and for emit() alike.
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setitem(app.extensions, "campaigns_redis", Redis.from_url(dead_url, socket_timeout=0.5))
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], redis_url=dead_url))
    monkeypatch.setattr(webhooks, "_emit_down_until", [0.0])
    started = time.monotonic()
    response = client.post(f"/api/contacts/{contact.id}/unsubscribe", json={}, headers=key)
    assert response.status_code == 200 and response.get_json()["changed"] is True
    assert time.monotonic() - started < 3 and webhooks._emit_down_until[0] > 0  # tried, failed, did not matter
    session.expire_all()
    assert session.get(type(contact), contact.id).unsubscribed_at is not None  # the unsubscribe itself holds
    started = time.monotonic()
    with app.app_context():
        for _ in range(20):  # the reply reader's call: no exception, and no wait once Redis is known to be away
            webhooks.emit("contact.replied", {"contact_id": contact.id})
    assert time.monotonic() - started < 1


def test_a_mail_is_sent_while_redis_is_away_for_the_events(app, session, factory, settings, smtp_server, monkeypatch):
    """The send path emits delivery.sent; Redis being unreachable for it does not stop the mail."""

    settings = smtp_settings(settings, smtp_server)
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    monkeypatch.setattr(tasks, "_app", app)
    session.add(WebhookEndpoint(url="https://crm.example.ru/h", events="delivery.sent", secret="s"))
    delivery = due_delivery(factory, session)
    # Only the events' Redis is away (emit()'s own client for the app's REDIS_URL); the send path's is up.
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    monkeypatch.setattr(webhooks, "_emit_clients", {settings.redis_url: dead})
    monkeypatch.setattr(webhooks, "_emit_down_until", [0.0])
    assert tasks.send_delivery_job(delivery.id) == "sent"
    assert len(smtp_server.messages) == 1
    assert webhooks._emit_down_until[0] > 0  # delivery.sent was tried, failed, and did not matter


def test_https_targets_are_verified_and_signed(session, factory, client, tmp_path, monkeypatch):
    """The POST goes to the checked address over TLS and checks the certificate against the host name."""
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv(webhooks.ALLOWED_NETWORKS_ENV, "127.0.0.1/32")
    server = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    url = server.url.replace("http://", "https://")
    try:
        endpoint = register_webhook(client, session, factory, url, events=("delivery.sent",))
        queue = Queue(webhooks.QUEUE, connection=redis_client())
        # A certificate nobody vouches for: refused, nothing sent.
        assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e1", '{"a": 1}', 1, queue=queue) is False
        assert server.requests == []
        session.expire_all()
        assert "SSL" in session.scalar(select(WebhookAttempt)).error
        # Trusted (as a private CA would be, through SSL_CERT_FILE): delivered and signed.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert webhooks.deliver(session, endpoint.id, "delivery.sent", "e2", '{"a": 1}', 1, queue=queue) is True
        [request] = server.requests
        assert readme_verify()(endpoint.secret, request["headers"]["X-Campaigns-Signature"], request["body"])
    finally:
        server.close()
