"""Every kind of mail the system writes comes from campaigns/mails.py; the digest and the
late-offer notice go once a day, remembered by the database (a Redis flush sends nothing again)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy

import pytest

from campaigns import digest, mails, offers
from campaigns.config import parse_mail_url
from campaigns.db import utcnow
from campaigns.extensions import redis_client
from campaigns.models import Role, SentNotice
from tests.scenes import Mailing, marketing_user, offer_with_links

MONDAY_0840 = datetime(2026, 11, 23, 5, 40, tzinfo=UTC)  # 08:40 in Moscow


@pytest.fixture
def smtp_settings(app, settings, smtp_server, monkeypatch):
    changed = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    monkeypatch.setitem(app.config, "SETTINGS", changed)
    return changed


def _digest_due(session, factory):
    anna = factory.advisor(name="Анна", email="anna@studio.example.com")
    m = Mailing(session, factory)
    m.click(factory.contact(owner=anna, company="Тойота"), m.discount, utcnow() - (MONDAY_0840 - timedelta(hours=12)))
    session.commit()


def _late_offer(session, factory):
    marketing_user(factory)
    offer = offer_with_links(factory, tag=factory.tag("Медики", rule="3 sun jun", lead_days=21), year=2027)
    session.commit()
    return offer


KINDS = {
    "digest": (_digest_due, lambda session, s, _: digest.send_due_digests(session, s, now=MONDAY_0840)),
    "offer_late": (
        _late_offer,
        lambda session, s, offer: offers.notify_offer_late(session, offer, s, now=datetime(2027, 5, 28, 9, 0, tzinfo=UTC)),
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_redis_flush_does_not_send_a_daily_mail_again(session, factory, smtp_settings, smtp_server, kind):
    prepare, send = KINDS[kind]
    subject = prepare(session, factory)
    assert send(session, smtp_settings, subject) == 1
    session.commit()
    redis_client().flushall()
    assert send(session, smtp_settings, subject) == 0
    assert len(smtp_server.messages) == 1
    assert session.query(SentNotice).filter_by(kind=kind).count() == 1


def test_a_failed_send_leaves_no_record_so_the_next_run_tries_again(session, factory):
    day = datetime(2026, 11, 23).date()

    def broken():
        raise OSError("relay down")

    with pytest.raises(OSError):
        mails.send_once(session, "digest", 7, day, broken)
    session.commit()
    assert session.query(SentNotice).count() == 0
    sent = []
    assert mails.send_once(session, "digest", 7, day, lambda: sent.append(1)) is True
    assert mails.send_once(session, "digest", 7, day, lambda: sent.append(2)) is False
    assert sent == [1]


def test_the_test_send_is_the_offer_letter_addressed_to_the_tester(session, factory, settings):
    owner = factory.advisor(name="Анна Соколова", email="anna@studio.example.com")
    tester = factory.advisor(role=Role.MARKETING, name="Мария", email="maria@studio.example.com")
    contact = factory.contact(owner=owner, first_name="Олег", email="oleg@client.example.com")
    offer = offer_with_links(factory)
    real = mails.offer_message(offer=offer, contact=contact, advisor=owner, settings=settings, delivery_id=None)
    test = mails.test_message(offer=offer, contact=contact, advisor=owner, tester=tester, settings=settings)
    assert [a.addr_spec for a in test["To"].addresses] == ["maria@studio.example.com"]
    assert test["From"] == real["From"] and test["Subject"] == f"[ТЕСТ] {real['Subject']}"
    for kind in ("plain", "html"):
        assert test.get_body((kind,)).get_content() == real.get_body((kind,)).get_content()
    assert "Здравствуйте, Олег!" in test.get_body(("plain",)).get_content()


def test_each_system_mail_has_a_text_and_an_html_body(session, factory, settings):
    user = factory.advisor(role=Role.MARKETING, name="Мария", email="maria@studio.example.com")
    offer = offer_with_links(factory, tag=factory.tag("Медики", rule="3 sun jun", lead_days=21))
    late = mails.offer_late_message(user=user, offer=offer, send_on=offers.offer_send_date(offer), problems=[], settings=settings)
    parsed = message_from_bytes(late.as_bytes(), policy=email_policy.default)
    assert "Медики" in parsed.get_body(("plain",)).get_content()
    assert "Медики" in parsed.get_body(("html",)).get_content()
    assert parsed["From"].addresses[0].display_name == mails.SYSTEM_NAME
