"""#18's small things in a real browser: a sent mail's note names its advisor, the queue says when a
mail without a time yet will get one, a phone's checkboxes are big enough to hit and stacked
lists keep their column names, and a user on a private-network domain (`@demo.local`) is taken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Advisor, Delivery, DeliveryStatus, Note, NoteKind, Role
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def office(session, factory):
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Орлов")
    anna = factory.advisor(name="Анна Соколова")
    offer = factory.offer(tag=factory.tag("Строители"), subject="Подарки для {{ company }}")
    contact = factory.contact(owner=anna, first_name="Олег", last_name="Кондрашов", company="Тойота")
    factory.contact(owner=anna, first_name="Инна", last_name="Белова", company="Мосстрой")
    sent_at = datetime.now(UTC) - timedelta(days=2)
    sent = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.SENT, send_on=sent_at.date(), sent_at=sent_at, advisor_id=anna.id
    )
    session.add(sent)
    session.flush()
    # The note the sending worker writes (sending._record_sent): the advisor the mail went out from as author.
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.MAIL,
            author_id=anna.id,
            delivery_id=sent.id,
            subject="Подарки для Тойота",
            body="Отправлено письмо «Подарки для Тойота»",
            created_at=sent_at,
        )
    )
    later = factory.offer(tag=factory.tag("Медики"))
    session.add(
        Delivery(
            offer=later,
            contact=contact,
            status=DeliveryStatus.PLANNED,
            send_on=(datetime.now(UTC) + timedelta(days=3)).date(),
            send_at=None,
        )
    )
    session.commit()
    return admin, anna, contact


def test_a_sent_mails_note_names_the_advisor_it_went_out_from(page, office, expect):
    admin, anna, contact = office
    log_in(page, anna)
    page.goto(f"/contacts/{contact.id}")
    note = page.locator(".timeline .note-mail").first
    expect(note.locator("header")).to_contain_text("Анна Соколова")
    expect(note).to_contain_text("«Подарки для Тойота»")
    assert page.js_errors == []


def test_the_queue_says_when_an_unpaced_mail_gets_its_time(page, office, expect):
    admin, anna, contact = office
    log_in(page, admin)
    page.goto("/queue")
    row = page.locator("tr", has_text="Медики")
    expect(row.locator(".unpaced")).to_have_text("назначится в день отправки, в рабочие часы")
    assert "—" not in row.locator("td").nth(3).inner_text()
    assert page.js_errors == []


def test_on_a_phone_boxes_are_big_enough_and_stacked_lists_keep_their_column_names(phone_page, office, expect):
    admin, anna, contact = office
    page = phone_page
    log_in(page, anna)
    page.goto("/contacts/")
    box = page.locator("input[name=ids]").first.bounding_box()
    assert box["width"] >= 20 and box["height"] >= 20, box
    company = page.locator("table.responsive tbody tr", has_text="Тойота").locator("td").nth(2)
    expect(company).to_have_attribute("data-label", "Компания")
    shown = company.evaluate("td => getComputedStyle(td, '::before').content")
    assert "Компания" in shown
    screenshot(page, "phone-contacts-stacked")
    page.goto(f"/contacts/{contact.id}")
    radios = page.locator("input[type=radio]")
    if radios.count():
        size = radios.first.bounding_box()
        assert size["width"] >= 20 and size["height"] >= 20, size
    assert page.js_errors == []


def test_admin_creates_a_user_at_demo_local(page, office, session, expect):
    admin, anna, contact = office
    log_in(page, admin)
    page.goto("/admin/users/new")
    page.get_by_label("Эл. почта").fill("igor@demo.local")
    page.get_by_label("Имя и фамилия").fill("Игорь Беляев")
    page.get_by_label("Пароль").fill("очень-длинный-пароль")
    page.get_by_role("button", name="Создать").click()
    expect(page.locator(".flash.success")).to_contain_text("Пользователь Игорь Беляев создан.")
    session.expire_all()
    assert session.query(Advisor).filter_by(email="igor@demo.local").one().name == "Игорь Беляев"
    session.rollback()
