"""DKIM: a signed mail verifies (dkimpy) against the published key; DNS is the only thing mocked."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import subprocess
from email import message_from_bytes
from email import policy as email_policy

import dkim
import dkim.crypto
import pytest

from campaigns import compose, tracking
from campaigns.config import ConfigError, MailSettings
from campaigns.models import Link
from campaigns.transport import open_transport

SELECTOR = "mail2026"


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    """(private PEM, DNS TXT record) made by openssl, as an administrator would."""
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    public_der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(public_der).decode()}"
    return private.read_text(), record


@pytest.fixture
def signing(settings, key_pair):
    return dataclasses.replace(settings, dkim_selector=SELECTOR, dkim_private_key=key_pair[0])


@pytest.fixture
def dns(key_pair):
    """The TXT records a resolver would return; asked names are recorded."""
    asked = []

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        asked.append(name)
        return key_pair[1].encode() if name == f"{SELECTOR}._domainkey.studio.example.com." else None

    lookup.asked = asked
    return lookup


def offer_mail(factory, settings, **contact):
    advisor = factory.advisor(name="Анна Соколова", email="anna@studio.example.com")
    offer = factory.offer(body="{{ greeting }}\n\nКаталог: {{ links.catalog }}\n\n{{ advisor.signature }}")
    offer.links = [Link(name="catalog", url="https://gifts.example.com/catalog")]
    factory.session.flush()
    contact = factory.contact(owner=advisor, **contact)
    return compose.build_offer_message(offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=7)


def signature_tags(msg) -> dict[str, str]:
    value = "".join(str(msg["DKIM-Signature"]).split())
    return dict(part.split("=", 1) for part in value.split(";") if part)


def test_it_signs_the_offer_so_that_it_verifies(session, factory, signing, dns):
    msg = offer_mail(factory, signing)

    assert msg.as_bytes().startswith(b"DKIM-Signature:")
    assert dkim.verify(msg.as_bytes(), dnsfunc=dns)
    assert dns.asked == [f"{SELECTOR}._domainkey.studio.example.com."]


def test_it_signs_as_the_from_domain_with_both_unsubscribe_headers(session, factory, signing):
    tags = signature_tags(offer_mail(factory, signing))

    assert tags["d"] == "studio.example.com" and tags["s"] == SELECTOR
    signed = tags["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id", "reply-to", "list-unsubscribe", "list-unsubscribe-post"):
        assert name in signed


def test_it_fails_verification_when_the_mail_is_altered(session, factory, signing, dns):
    raw = offer_mail(factory, signing).as_bytes()
    unsubscribe = tracking.unsubscribe_url(signing.public_url, 7, signing.secret_key)

    assert not dkim.verify(
        raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks"),
        dnsfunc=dns,
    )
    assert not dkim.verify(raw.replace(unsubscribe.encode(), unsubscribe.replace("/u/", "/x/").encode()), dnsfunc=dns)


def test_it_verifies_as_received_by_the_relay_and_as_kept_in_the_notes(session, factory, signing, dns, smtp_server):
    msg = offer_mail(factory, signing)
    with open_transport(MailSettings(scheme="smtp", host=smtp_server.host, port=smtp_server.port)) as conn:
        conn.send(msg)

    [envelope] = smtp_server.messages
    assert dkim.verify(envelope.content, dnsfunc=dns)
    assert dkim.verify(msg.as_string().encode(), dnsfunc=dns)
    received = message_from_bytes(envelope.content, policy=email_policy.default)
    assert received["From"].addresses[0].display_name == "Анна Соколова"


def test_it_signs_a_mail_to_a_non_ascii_mailbox(session, factory, signing, dns):
    msg = offer_mail(factory, signing, email="олег@пример.рф")

    assert "олег@xn--e1afmkfd.xn--p1ai".encode() in msg.as_bytes()
    assert dkim.verify(msg.as_bytes(), dnsfunc=dns)


def test_it_signs_the_other_kinds_of_mail(settings, signing, dns):
    msg = compose.make_message(
        settings=signing,
        from_name="Рассылки",
        from_addr="noreply@studio.example.com",
        to_name="Анна",
        to_addr="anna@studio.example.com",
        subject="Горячие контакты",
        text="Сегодня позвонить: Олег Петров\n",
    )
    assert dkim.verify(msg.as_bytes(), dnsfunc=dns)


def test_it_does_not_sign_without_a_key(settings):
    msg = compose.make_message(
        settings=settings,
        from_name="Рассылки",
        from_addr="noreply@studio.example.com",
        to_name="Анна",
        to_addr="anna@studio.example.com",
        subject="Тема",
        text="Текст\n",
    )
    assert "DKIM-Signature" not in msg


def test_it_names_the_setting_when_the_key_is_unusable(settings):
    broken = dataclasses.replace(
        settings,
        dkim_selector=SELECTOR,
        dkim_private_key="-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    with pytest.raises(ConfigError, match="DKIM_PRIVATE_KEY"):
        compose.make_message(
            settings=broken,
            from_name="Рассылки",
            from_addr="noreply@studio.example.com",
            to_name="Анна",
            to_addr="anna@studio.example.com",
            subject="Тема",
            text="Текст\n",
        )


def test_a_second_header_added_in_transit_fails_verification(session, factory, signing, dns):
    raw = offer_mail(factory, signing).as_bytes()
    assert dkim.verify(raw, dnsfunc=dns)
    head, sep, body = raw.partition(b"\r\n\r\n")

    for added in (
        b"Subject: =?utf-8?b?0KHRgNC+0YfQvdC+?=",
        b"Reply-To: thief@elsewhere.example",
        b"List-Unsubscribe: <https://elsewhere.example/u>",
        b"Auto-Submitted: auto-generated",
    ):
        assert not dkim.verify(head + b"\r\n" + added + sep + body, dnsfunc=dns), added


def test_it_signs_relaxed_so_that_refolding_on_the_way_still_verifies(session, factory, signing, dns):
    msg = offer_mail(factory, signing)
    assert signature_tags(msg)["c"] == "relaxed/relaxed"
    raw = msg.as_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    # A relay that re-spaces a header and trims trailing blanks in the body.
    respaced = head.replace(b"Subject: ", b"Subject:   ", 1)
    assert dkim.verify(respaced + sep + body.replace(b"\r\n", b"  \r\n"), dnsfunc=dns)


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_openssl_makes_the_same_rsa_signature_as_dkimpys_own_code(key_pair, algorithm):
    """The RSA step runs in OpenSSL (≈ 13 ms a mail in dkimpy's Python, well under 1 ms there):
    PKCS#1 v1.5 is deterministic, so each signature is the very bytes dkimpy would make."""
    key = dkim.crypto.parse_pem_private_key(key_pair[0].encode())
    for text in (b"", b"one header block", "Здравствуйте!!".encode() * 50):
        digest = hashlib.new(algorithm, text)
        assert compose._rsa_sign_in_openssl(digest.copy(), key) == dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest.copy(), key)


def test_dkimpy_signs_through_openssl(session, factory, signing, dns, monkeypatch):
    """dkimpy has no hook for its RSA step: compose sets the name it looks up at each call. A dkimpy
    that bound it otherwise would silently sign in Python again; this catches it."""
    assert dkim.RSASSA_PKCS1_v1_5_sign is compose._rsa_sign_in_openssl
    calls = []

    def counted(digest, key):
        calls.append(digest.name)
        return compose._rsa_sign_in_openssl(digest, key)

    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", counted)
    msg = offer_mail(factory, signing)
    assert calls == ["sha256"] and dkim.verify(msg.as_bytes(), dnsfunc=dns)
