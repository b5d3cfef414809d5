"""Mail that comes back, in a real browser against the tests' private Dovecot (tests/dovecot.py):
an advisor connects the mailbox replies arrive in (the connection test first), an internal address
is refused, and the admin sees the system mailbox's messages nobody understood (#16)."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from campaigns import inbound, replies
from campaigns.models import AdvisorMailbox, InboundMessage, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


def _mail(sender: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "unsubscribe@campaigns.example.com", subject
    message["Message-ID"] = make_msgid(domain="client.example.com")
    message.set_content(body)
    return bytes(message)


def _fill(page, account, password: str) -> None:
    page.get_by_label("Сервер IMAP").fill(account.host)
    page.get_by_label("Порт").fill(str(account.port))
    page.get_by_label("Шифрование").select_option(label="без шифрования (только внутри своей сети)")
    page.get_by_label("Имя пользователя").fill(account.user)
    page.get_by_label("Пароль приложения").fill(password)


def test_an_advisor_tests_and_connects_the_mailbox_for_replies(page, session, factory, imap_account, expect):
    anna = factory.advisor(name="Анна Соколова")
    session.commit()
    imap_account.deliver(_mail("oleg@toyota.example.com", "Re: каталог", "Спасибо, посмотрим."))
    log_in(page, anna)
    page.get_by_role("navigation").get_by_role("link", name="Почта для ответов").click()

    _fill(page, imap_account, "wrong-password")
    page.get_by_role("button", name="Проверить подключение").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("пароль приложения")

    _fill(page, imap_account, imap_account.password)
    page.get_by_role("button", name="Проверить подключение").click()
    expect(page.locator(".connection-ok")).to_have_text("Подключение работает: в папке «INBOX» писем: 1.")
    screenshot(page, "mailbox-tested")

    page.get_by_label("Пароль приложения").fill(imap_account.password)
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".flash.success")).to_contain_text("Почта подключена")
    expect(page.locator("main")).to_contain_text(f"Подключено: {imap_account.user} на {imap_account.host}:{imap_account.port}")
    assert page.js_errors == [] and page.csp_violations == []

    row = session.scalar(select(AdvisorMailbox).where(AdvisorMailbox.advisor_id == anna.id))
    assert row is not None and imap_account.password not in row.password_encrypted
    session.rollback()


def test_the_connection_test_refuses_an_internal_address_the_admin_did_not_allow(
    page, session, factory, imap_account, monkeypatch, expect
):
    monkeypatch.delenv(replies.ALLOWED_NETWORKS_ENV, raising=False)  # the tests' Dovecot is on 127.0.0.1
    anna = factory.advisor(name="Анна Соколова")
    session.commit()
    log_in(page, anna)
    page.goto("/mailbox")
    _fill(page, imap_account, imap_account.password)
    page.get_by_role("button", name="Проверить подключение").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("внутренний")
    expect(page.locator(".connection-ok")).to_have_count(0)
    page.get_by_label("Порт").fill("6379")
    page.get_by_label("Сервер IMAP").fill("93.184.216.34")
    page.get_by_label("Пароль приложения").fill("x")
    page.get_by_role("button", name="Проверить подключение").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("Порт 6379 — не порт IMAP")
    assert session.scalar(select(AdvisorMailbox)) is None


def test_admin_sees_the_messages_the_system_mailbox_did_not_understand(
    page, app, session, factory, settings, imap_account, monkeypatch, expect
):
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Орлов")
    session.commit()
    imap_account.deliver(_mail("buh@zavod.example.ru", "Вопрос по счёту № 418", "Добрый день! Пришлите, пожалуйста, счёт."))
    system = dataclasses.replace(settings, bounce_url=imap_account.url())
    monkeypatch.setitem(app.config, "SETTINGS", system)  # the page says whether INBOUND_URL is set
    inbound.read_system_mailbox(session, system)
    session.commit()
    assert session.scalar(select(InboundMessage.kind)) == inbound.UNKNOWN

    log_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="Входящая почта").click()
    row = page.locator("table.inbound-list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("buh@zavod.example.ru")
    expect(row).to_contain_text("Вопрос по счёту № 418")
    expect(page.locator("main")).not_to_contain_text("Системный ящик не настроен")
    screenshot(page, "admin-inbound")
    assert page.js_errors == []
    [(flags, _raw)] = imap_account.messages()  # left in the mailbox, unread, for a person
    assert b"\\Seen" not in flags
