"""Mail that comes back, end to end on real servers: an offer goes out through a real SMTP server
(aiosmtpd), the client's reply and a mailto unsubscribe are delivered into a real IMAP server
(the private Dovecot), and one poll makes them count."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from campaigns import hotlist, inbound, replies, reports, sending
from campaigns.db import utcnow
from campaigns.models import (
    AdvisorMailbox,
    Click,
    Contact,
    DeliveryStatus,
    InboundMessage,
    Link,
    Note,
    NoteKind,
    Role,
    Suppression,
    SuppressionReason,
    Verdict,
)
from tests.scenes import due_delivery, register_webhook, reload_delivery, run_jobs, smtp_settings


@pytest.fixture(autouse=True)
def _fresh_transports():
    yield
    sending.close_transports()


def _sent_offer(session, factory, settings, smtp_server, owner, **contact_kw):
    """An offer sent through the real SMTP server; (delivery, the mail as the relay received it)."""
    delivery = due_delivery(factory, session, owner=owner, **contact_kw)
    result = sending.send_delivery(session, delivery.id, settings)
    assert result.outcome == sending.Outcome.SENT
    received = smtp_server.messages[-1].content
    return reload_delivery(session, delivery.id), inbound.parse(received)


def _reply_to(original, sender: str, text: str, *, subject_prefix="Re: ", **headers) -> bytes:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(original["Reply-To"] or original["From"])
    reply["Subject"] = subject_prefix + str(original["Subject"])
    reply["Message-ID"] = make_msgid(domain="client.example.com")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    quoted = "\n".join("> " + line for line in original.get_body(("plain",)).get_content().splitlines())
    reply.set_content(
        f"{text}\n\n--\nИван Сидоров\nООО «Ромашка»\n\nпн, 15 июн. 2026 г. в 10:12, Анна <anna@studio.example.com>:\n{quoted}\n"
    )
    return bytes(reply)


def _connect(session, advisor, account, settings) -> AdvisorMailbox:
    box = replies.MailboxSettings(account.host, account.port, False, account.user, account.password)
    row = replies.save(session, advisor, box, settings.secret_key)
    session.commit()
    return row


def test_a_reply_in_the_advisors_mailbox_puts_the_contact_first_on_the_hot_list_with_its_text(
    session, factory, settings, smtp_server, imap_server, client
):
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    # Another client clicked the discount an hour ago: hot, but a reply is stronger.
    clicked, _mail = _sent_offer(session, factory, settings, smtp_server, anna, email="buyer@klik.example.com", company="Кликнул")
    link = session.scalar(select(Link).where(Link.offer_id == clicked.offer_id))
    session.add(
        Click(
            delivery_id=clicked.id,
            link_id=link.id,
            contact_id=clicked.contact_id,
            owner_id=anna.id,
            clicked_at=utcnow() - timedelta(hours=1),
            verdict=Verdict.HUMAN,
            reason="test",
        )
    )
    delivery, original = _sent_offer(
        session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com", company="Ромашка"
    )
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(
        _reply_to(original, "Иван Сидоров <ivan@romashka.example.com>", "Добрый день! Пришлите, пожалуйста, счёт на 40 наборов.")
    )

    assert replies.poll_all(session, settings) == 1

    entries = hotlist.hot_list(session, anna.id, settings)
    assert [e.contact_id for e in entries][:2] == [delivery.contact_id, clicked.contact_id]
    assert entries[0].replied_at is not None
    [note] = session.scalars(
        select(Note).where(
            Note.contact_id == delivery.contact_id, Note.raw_message.is_not(None), Note.body.like("Клиент ответил%")
        )
    ).all()
    assert "счёт на 40 наборов" in note.body and "«Новогодние подарки для Ромашка»" in note.body
    assert "Иван Сидоров" not in note.body and "Каталог" not in note.body  # signature and quoted offer stripped
    assert note.delivery_id == delivery.id
    # What the advisor sees: «ответил» first on the hot list, the reply on the card, the whole message a click away.
    client.login(anna)
    hot = client.get("/hot/").get_data(as_text=True)
    assert hot.index("Ромашка") < hot.index("Кликнул") and "ответил" in hot
    card = client.get(f"/contacts/{delivery.contact_id}").get_data(as_text=True)
    assert "счёт на 40 наборов" in card and f"/contacts/{delivery.contact_id}/mail/{note.id}" in card
    whole = client.get(f"/contacts/{delivery.contact_id}/mail/{note.id}").get_data(as_text=True)
    assert "Иван Сидоров" in whole and "&gt; " in whole  # the signature and the quoted offer are kept there
    # Counted once for the offer; a second poll finds nothing new and nothing is marked in the advisor's mailbox.
    assert replies.reply_counts(session, "offer", None) == {delivery.offer_id: 1}
    assert replies.poll_all(session, settings) == 0
    [(flags, _raw)] = mailbox.messages()
    assert b"\\Seen" not in flags


def test_a_mailto_unsubscribe_delivered_to_the_system_mailbox_unsubscribes_the_contact(
    session, factory, settings, smtp_server, imap_server
):
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    delivery, original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    pending = due_delivery(factory, session, owner=anna, email="ivan@romashka.example.com")  # the next offer, not sent yet
    mailto = next(part for part in str(original["List-Unsubscribe"]).split(",") if "mailto:" in part).strip(" <>")
    address, _sep, query = mailto.removeprefix("mailto:").partition("?subject=")
    system = imap_server.account()
    settings = dataclasses.replace(settings, bounce_url=system.url())
    request = EmailMessage()
    request["From"], request["To"] = "ivan@romashka.example.com", address
    request["Subject"] = query.replace("%20", " ")
    request["Message-ID"] = make_msgid(domain="romashka.example.com")
    request.set_content("")
    system.deliver(bytes(request))

    assert inbound.read_system_mailbox(session, settings) == 1

    contact = session.get(Contact, delivery.contact_id, populate_existing=True)
    assert contact.unsubscribed_at is not None
    assert (
        session.scalar(select(Suppression.reason).where(Suppression.email == "ivan@romashka.example.com"))
        == SuppressionReason.UNSUBSCRIBE
    )
    assert reload_delivery(session, pending.id).status == DeliveryStatus.CANCELLED
    assert session.scalar(select(Note.body).where(Note.contact_id == contact.id, Note.kind == NoteKind.UNSUBSCRIBE))
    [(flags, _raw)] = system.messages()
    assert b"\\Seen" in flags  # handled and kept


def test_an_auto_reply_is_a_note_but_neither_hot_nor_counted(session, factory, settings, smtp_server, imap_server):
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    delivery, original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(
        _reply_to(
            original,
            "ivan@romashka.example.com",
            "Я в отпуске до 20 июня.",
            subject_prefix="Автоответ: ",
            Auto_Submitted="auto-replied",
        )
    )

    assert replies.poll_all(session, settings) == 0

    assert hotlist.hot_list(session, anna.id, settings) == []
    assert replies.reply_counts(session, "offer", None) == {}
    [note] = session.scalars(select(Note).where(Note.contact_id == delivery.contact_id, Note.body.like("Автоответ%"))).all()
    assert "в отпуске" in note.body


def test_mail_from_a_contact_without_our_message_id_is_a_reply_and_other_mail_is_not_read(
    session, factory, settings, smtp_server, imap_server
):
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    delivery, _original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    for sender, text in (
        ("Ivan@Romashka.example.com", "Позвоните мне завтра, обсудим заказ."),
        ("friend@elsewhere.example.com", "Личное письмо"),
    ):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, "anna@studio.example.com", "Вопрос"
        message["Message-ID"] = make_msgid(domain="example.com")
        message.set_content(text)
        mailbox.deliver(bytes(message))

    assert replies.poll_all(session, settings) == 1

    rows = session.scalars(select(InboundMessage)).all()
    assert [(r.kind, r.contact_id, r.delivery_id) for r in rows] == [("reply", delivery.contact_id, delivery.id)]
    assert "Позвоните мне завтра" in session.scalar(select(Note.body).where(Note.body.like("Клиент ответил%")))


def test_replies_count_per_offer_tag_and_advisor(session, factory, settings, smtp_server, imap_server, client):
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    first, original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Интересно."))
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "И ещё вопрос."))  # the same mail: counted once

    assert replies.poll_all(session, settings) == 2

    year = first.offer.year
    tag_id = first.offer.tag_id
    assert replies.reply_counts(session, "offer", year) == {first.offer_id: 1}
    assert replies.reply_counts(session, "tag", year) == {tag_id: 1}
    assert replies.reply_counts(session, "advisor", year) == {anna.id: 1}
    assert replies.reply_counts(session, "offer", year + 1) == {}
    assert {row.key for row in reports.by_offer(session, year)} >= {first.offer_id}
    client.login(factory.advisor(role=Role.MARKETING))
    page = client.get(f"/results/?year={year}").get_data(as_text=True)
    assert "<th>Ответили</th>" in page
    assert page.count('<td data-label="Ответили">1</td>') == 3  # the offer, the advisor, the tag


def test_the_password_is_stored_encrypted_and_a_wrong_one_is_refused_in_russian(session, factory, settings, imap_server):
    anna = factory.advisor()
    account = imap_server.account()

    row = _connect(session, anna, account, settings)

    assert account.password not in row.password_encrypted
    assert replies.decrypt_password(row.password_encrypted, settings.secret_key) == account.password
    with pytest.raises(replies.MailboxError, match="пароль"):
        replies.check(replies.MailboxSettings(account.host, account.port, False, account.user, "wrong"))
    with pytest.raises(replies.MailboxError, match="Пароль почты сохранён с другим SECRET_KEY"):
        replies.decrypt_password(row.password_encrypted, "another-secret")


def test_the_scheduler_polls_the_advisors_mailboxes_every_few_minutes_through_a_periodic_job(
    app, session, factory, settings, smtp_server, imap_server, monkeypatch
):
    from campaigns import cron, tasks
    from campaigns.extensions import redis_client

    monkeypatch.setattr(tasks, "_app", app)
    with app.app_context():
        jobs = {(job.func_name.rsplit(".", 1)[-1], job.interval) for job in cron.build(redis_client()).get_jobs()}
    assert ("poll_replies", replies.POLL_SECONDS) in jobs

    settings = smtp_settings(settings, smtp_server)
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    _delivery, original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Да, интересно."))
    assert tasks.poll_replies() == 1


def test_a_mailbox_that_cannot_be_read_says_why_and_the_others_are_still_read(
    session, factory, settings, smtp_server, imap_server
):
    settings = smtp_settings(settings, smtp_server)
    anna, igor = factory.advisor(email="anna@studio.example.com"), factory.advisor(email="igor@studio.example.com")
    _delivery, original = _sent_offer(session, factory, settings, smtp_server, igor, email="ivan@romashka.example.com")
    broken = _connect(session, anna, imap_server.account(), settings)
    broken.password_encrypted = replies.encrypt_password("wrong", settings.secret_key)
    session.commit()
    mailbox = imap_server.account()
    _connect(session, igor, mailbox, settings)
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Да, интересно."))

    assert replies.poll_all(session, settings) == 1

    session.refresh(broken)
    assert "пароль" in broken.last_error


def test_a_contact_who_only_replied_shows_on_the_home_page_and_in_the_morning_digest(
    app, session, factory, settings, smtp_server, imap_server, client
):
    from datetime import date

    from campaigns import mails

    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    _delivery, original = _sent_offer(
        session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com", company="Ромашка"
    )
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Да, интересно."))
    replies.poll_all(session, settings)

    entries = hotlist.hot_list(session, anna.id, settings)
    with app.test_request_context():
        digest = mails.digest_message(advisor=anna, entries=entries, settings=settings, today=date.today())
    text = digest.get_body(("plain",)).get_content()
    assert "Ромашка" in text and "Ответил на письмо" in text and "Открыл" not in text
    client.login(anna)
    home = client.get("/").get_data(as_text=True)
    assert "Ромашка" in home and "ответил" in home


def test_a_reply_reaches_the_webhook_receiver_and_an_auto_reply_does_not(
    app, client, session, factory, settings, smtp_server, imap_server, receiver, monkeypatch
):  # noqa: F811
    import json

    from campaigns import webhooks

    webhooks._subscribed.clear()
    register_webhook(client, session, factory, receiver.url, events=("contact.replied",))
    settings = smtp_settings(settings, smtp_server)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    delivery, original = _sent_offer(session, factory, settings, smtp_server, anna, email="ivan@romashka.example.com")
    mailbox = imap_server.account()
    _connect(session, anna, mailbox, settings)
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Я в отпуске.", subject_prefix="Автоответ: "))
    mailbox.deliver(_reply_to(original, "ivan@romashka.example.com", "Пришлите счёт."))

    assert replies.poll_all(session, settings) == 1
    run_jobs(app, monkeypatch)

    [request] = receiver.requests
    event = json.loads(request["body"])
    assert event["event"] == "contact.replied"
    assert (event["data"]["contact_id"], event["data"]["offer_id"]) == (delivery.contact_id, delivery.offer_id)
    assert "Пришлите счёт" in event["data"]["text"]
