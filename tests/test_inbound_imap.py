"""The inbound mailbox read over IMAP from a real server (the private Dovecot, tests/dovecot.py)."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campaigns import bounces, consent, inbound
from campaigns.db import utcnow
from campaigns.models import (
    AdvisorMailbox,
    Contact,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Note,
    NoteKind,
    Role,
    Suppression,
    SuppressionReason,
)
from campaigns.tracking import unsubscribe_token
from tests.scenes import ARF, bounce_report, sent_delivery


def test_a_bounce_report_in_an_imap_mailbox_fails_its_delivery_once_and_stays_in_the_mailbox(
    session, factory, settings, imap_account
):
    delivery = sent_delivery(factory, session, "gone@client.example.com", "<abc@studio.example.com>")
    imap_account.deliver(bounce_report("gone@client.example.com", "<abc@studio.example.com>"))
    settings = dataclasses.replace(settings, bounce_url=imap_account.url())

    first = bounces.process_mailbox(session, settings)
    second = bounces.process_mailbox(session, settings)

    session.refresh(delivery)
    assert (first, second) == (1, 0)
    assert delivery.status == DeliveryStatus.FAILED
    [(flags, raw)] = imap_account.messages()
    assert b"\\Seen" in flags and b"Undelivered Mail" in raw


def _system(settings, account):
    return dataclasses.replace(settings, bounce_url=account.url())


def _mail(sender, subject, body="", message_id=None, **headers) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "unsubscribe@campaigns.example.com", subject
    message["Message-ID"] = message_id or make_msgid(domain="client.example.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)


def _pending(factory, session, contact):
    delivery = Delivery(offer=factory.offer(), contact=contact, send_on=utcnow().date(), status=DeliveryStatus.PLANNED)
    session.add(delivery)
    session.commit()
    return delivery


def test_a_spam_complaint_stops_the_address_cancels_pending_mail_and_tells_the_advisor(session, factory, settings, imap_account):
    sent = sent_delivery(factory, session, "angry@client.example.com", "<m1@studio.example.com>")
    pending = _pending(factory, session, sent.contact)
    imap_account.deliver(
        ARF.format(recipient="angry@client.example.com", message_id="<m1@studio.example.com>").replace("\n", "\r\n").encode()
    )

    assert inbound.read_system_mailbox(session, _system(settings, imap_account)) == 1

    assert (
        session.scalar(select(Suppression.reason).where(Suppression.email == "angry@client.example.com"))
        == SuppressionReason.COMPLAINT
    )
    assert session.get(Delivery, pending.id, populate_existing=True).status == DeliveryStatus.CANCELLED
    note = session.scalar(select(Note.body).where(Note.contact_id == sent.contact_id, Note.kind == NoteKind.UNSUBSCRIBE))
    assert "жалоба на спам" in note
    [(flags, _raw)] = imap_account.messages()
    assert b"\\Seen" in flags


def test_an_unsubscribe_token_in_the_body_is_honoured_and_a_forged_one_does_nothing_and_waits_for_the_admin(
    session, factory, settings, imap_account, client
):
    sent = sent_delivery(factory, session, "ivan@client.example.com", "<m2@studio.example.com>")
    good = unsubscribe_token(sent.id, settings.secret_key)
    forged = unsubscribe_token(sent.id, "someone-elses-key")
    imap_account.deliver(_mail("ivan@client.example.com", "Отписка", f"Прошу отписать: unsubscribe {forged}"))
    settings = _system(settings, imap_account)

    assert inbound.read_system_mailbox(session, settings) == 0
    assert session.get(Contact, sent.contact_id, populate_existing=True).unsubscribed_at is None

    imap_account.deliver(_mail("ivan@client.example.com", "Re: отписка", f"Отпишите меня.\n\nunsubscribe {good}\n"))
    assert inbound.read_system_mailbox(session, settings) == 1
    assert session.get(Contact, sent.contact_id, populate_existing=True).unsubscribed_at is not None

    # The forged one is still in the mailbox, unread, and on the admin's page.
    flags = [flags for flags, _raw in imap_account.messages()]
    assert len(flags) == 2 and b"\\Seen" not in flags[0] and b"\\Seen" in flags[1]
    client.login(factory.advisor(role=Role.ADMIN))
    page = client.get("/admin/inbound").get_data(as_text=True)
    assert "ivan@client.example.com" in page and "Отписка" in page and "без действительной подписи" in page


def test_each_message_is_handled_once_even_when_its_seen_flag_was_lost(session, factory, settings, imap_account):
    sent = sent_delivery(factory, session, "ivan@client.example.com", "<m3@studio.example.com>")
    imap_account.deliver(_mail("ivan@client.example.com", f"unsubscribe {unsubscribe_token(sent.id, settings.secret_key)}"))
    settings = _system(settings, imap_account)
    assert inbound.read_system_mailbox(session, settings) == 1
    # A crash between the commit and the flag (or a second scheduler that fetched it meanwhile):
    client = imap_account.connect()
    client.select("INBOX")
    client.uid("STORE", "1", "-FLAGS", "(\\Seen)")
    client.logout()
    contact = session.get(Contact, sent.contact_id)
    consent.resubscribe(session, factory.advisor(role=Role.ADMIN), contact, "звонок 2 декабря")
    session.commit()

    assert inbound.read_system_mailbox(session, settings) == 0

    assert session.get(Contact, sent.contact_id, populate_existing=True).unsubscribed_at is None
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_two_readers_of_one_message_record_it_once(session, factory, settings):
    raw = _mail("x@client.example.com", "hello", message_id="<same@client.example.com>")
    first = inbound.handle_once(session, inbound.SYSTEM, raw, "1", inbound.handle_system_message)
    second = inbound.handle_once(session, inbound.SYSTEM, raw, "1", inbound.handle_system_message)
    assert first is not None and first.kind == "unknown" and second is None
    session.add(InboundMessage(mailbox=inbound.SYSTEM, message_key="<same@client.example.com>", kind="unknown"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_the_admin_page_is_for_admins_only(client, factory):
    client.login(factory.advisor())
    assert client.get("/admin/inbound").status_code == 403


def test_an_advisor_connects_a_mailbox_after_the_connection_test_and_a_wrong_password_is_explained(
    session, factory, client, imap_account
):
    anna = factory.advisor()
    session.commit()
    client.login(anna)
    form = {
        "host": imap_account.host,
        "port": str(imap_account.port),
        "security": "plain",
        "username": imap_account.user,
        "password": "wrong",
        "folder": "INBOX",
    }

    page = client.post_form("/mailbox", {**form, "action": "test"}).get_data(as_text=True)
    assert "пароль приложения" in page
    page = client.post_form("/mailbox", {**form, "password": imap_account.password, "action": "test"}).get_data(as_text=True)
    assert "Подключение работает" in page
    assert session.scalar(select(func.count()).select_from(AdvisorMailbox)) == 0  # a test saves nothing

    response = client.post_form("/mailbox", {**form, "password": imap_account.password, "action": "save"})
    assert response.status_code == 302
    row = session.scalar(select(AdvisorMailbox).where(AdvisorMailbox.advisor_id == anna.id))
    assert row.username == imap_account.user and imap_account.password not in row.password_encrypted
    assert imap_account.password not in client.get("/mailbox").get_data(as_text=True)
