"""Deliverability: one-click unsubscribe only over https, Auto-Submitted on system mail, the
start-up warning, and `flask campaigns dns`."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date

from campaigns import compose, create_app, dns_records, mails
from campaigns.models import Link


def _offer(factory, settings):
    advisor = factory.advisor(name="Анна Соколова")
    offer = factory.offer(body="{{ greeting }}\n\nКаталог: {{ links.catalog }}\n\n{{ advisor.signature }}")
    offer.links = [Link(name="catalog", url="https://gifts.example.com/catalog")]
    factory.session.flush()
    contact = factory.contact(owner=advisor)
    return compose.build_offer_message(offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=7)


def test_one_click_unsubscribe_is_offered_only_next_to_an_https_url(session, factory, settings):
    secure = _offer(factory, settings)
    plain = _offer(factory, dataclasses.replace(settings, public_url="http://campaigns.example.com"))

    assert secure["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://campaigns.example.com/u/" in str(secure["List-Unsubscribe"])
    assert plain["List-Unsubscribe-Post"] is None
    assert "<http://campaigns.example.com/u/" in str(plain["List-Unsubscribe"])  # the link and mailto stay
    assert "mailto:unsubscribe@" in str(plain["List-Unsubscribe"])


def test_offers_are_not_auto_submitted_but_the_digest_and_every_system_mail_are(app, session, factory, settings):
    advisor = factory.advisor()
    offer = factory.offer()
    with app.test_request_context():
        system = [
            mails.digest_message(advisor=advisor, entries=[], settings=settings, today=date(2026, 12, 2)),
            mails.offer_late_message(
                user=advisor, offer=offer, send_on=date(2026, 12, 20), problems=["нет каталога"], settings=settings
            ),
        ]
    assert _offer(factory, settings)["Auto-Submitted"] is None
    for message in system:
        assert message["Auto-Submitted"] == "auto-generated"


def test_start_up_warns_about_a_plain_http_public_url_that_is_not_loopback(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="campaigns"):
        create_app(dataclasses.replace(settings, public_url="http://campaigns.example.com"))
    assert any("PUBLIC_URL http://campaigns.example.com is plain http" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="campaigns"):
        create_app(dataclasses.replace(settings, public_url="http://127.0.0.1:5000"))
        create_app(settings)  # https
    assert not any("plain http" in r.getMessage() for r in caplog.records)


def test_the_dns_command_prints_the_records_and_degrades_without_a_resolver(app, session, factory, settings, tmp_path):
    import subprocess

    private = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    signing = dataclasses.replace(
        settings, dkim_selector="mail2026", dkim_private_key=private.read_text(), mail_domain="campaigns.example.com"
    )
    factory.advisor(email="anna@studio.example.com")
    session.commit()
    app.config["SETTINGS"], saved = signing, app.config["SETTINGS"]
    try:
        result = app.test_cli_runner().invoke(args=["campaigns", "dns", "--timeout", "0.5"])
    finally:
        app.config["SETTINGS"] = saved

    out = result.output
    assert result.exit_code == 0, out
    assert f'mail2026._domainkey.studio.example.com TXT "{dns_records.dkim_public_record(private.read_text())}"' in out
    assert "mail2026._domainkey.campaigns.example.com TXT" in out
    assert 'studio.example.com TXT "v=spf1' in out and '_dmarc.studio.example.com TXT "v=DMARC1; p=none' in out
    assert "go.studio.example.com" in out  # PUBLIC_URL is on another domain: the subdomain advice
    statuses = [line.rsplit("[", 1)[-1].rstrip("]") for line in out.splitlines() if line.startswith("  ") and "[" in line]
    assert statuses and all(s in ("could not check", "missing") or s.startswith("could not check") for s in statuses), out
