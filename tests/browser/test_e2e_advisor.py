"""An advisor's morning in a real browser: the hot list, a call logged, the note on the card."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from campaigns.models import Click, Delivery, DeliveryStatus, Link, Note, NoteKind, Verdict
from tests.browser.support import assert_no_horizontal_scroll, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def hot_contact(session, factory):
    anna = factory.advisor(name="Анна Соколова")
    contact = factory.contact(
        owner=anna,
        first_name="Олег",
        last_name="Кондрашов",
        company="Тойота",
        position="Директор по персоналу",
        phone="+74951234567",
        email="oleg.kondrashov.very-long-address@toyota-center.example.com",
    )
    offer = factory.offer(subject="Подарки к Новому году")
    links = [
        Link(offer=offer, name="catalog", url="https://gifts.example.com/c", label="Каталог", weight=1),
        Link(offer=offer, name="discount", url="https://gifts.example.com/d", label="Скидка", weight=3),
    ]
    delivery = Delivery(
        offer=offer,
        contact=contact,
        advisor_id=anna.id,
        status=DeliveryStatus.SENT,
        send_on=date.today(),
        sent_at=datetime.now(UTC) - timedelta(days=1),
    )
    session.add_all([*links, delivery])
    session.flush()
    session.add(
        Note(
            contact_id=contact.id,
            kind=NoteKind.MAIL,
            delivery_id=delivery.id,
            subject=offer.subject,
            body=f"Отправлено письмо «{offer.subject}»",
            created_at=datetime.now(UTC) - timedelta(days=1),
        )
    )
    for link, hours in ((links[0], 5), (links[1], 3), (links[1], 1)):
        session.add(
            Click(
                delivery=delivery,
                link=link,
                contact=contact,
                verdict=Verdict.HUMAN,
                clicked_at=datetime.now(UTC) - timedelta(hours=hours),
            )
        )
    session.commit()
    return anna, contact


def test_it_logs_a_call_from_the_hot_list_and_shows_it_on_the_card(page, hot_contact, session):
    anna, contact = hot_contact
    log_in(page, anna)

    page.get_by_role("navigation").get_by_role("link", name="Горячие").click()
    row = page.locator(f"#contact-{contact.id}")
    assert "Тойота" in row.inner_text() and "Скидка" in row.inner_text()
    screenshot(page, "hot-list")

    row.locator("summary", has_text="Записать звонок").click()
    row.get_by_label("Результат звонка").fill("Попросили прислать каталог с ценами до 3 000 ₽")
    row.get_by_label("Интерес").select_option("yes")
    row.get_by_role("button", name="Сохранить").click()
    assert "Звонок записан: " in page.locator(".flash.success").inner_text()
    assert "(Тойота)" in page.locator(".flash.success").inner_text()  # the person first, then the company
    assert page.locator(f"#contact-{contact.id}").count() == 0  # handled: off the list until a new click

    page.goto(f"/contacts/{contact.id}")
    call = page.locator(".timeline .note-call").first
    assert "Попросили прислать каталог с ценами до 3 000 ₽" in call.inner_text()
    assert "интерес есть" in call.inner_text()
    assert "Анна Соколова" in call.inner_text()
    assert page.js_errors == []
    screenshot(page, "contact-card")

    session.expire_all()
    assert session.query(Note).filter_by(contact_id=contact.id, kind=NoteKind.CALL).count() == 1
    session.rollback()


def test_it_shows_a_call_form_error_beside_the_field(page, hot_contact):
    anna, contact = hot_contact
    log_in(page, anna)
    page.goto(f"/contacts/{contact.id}")

    page.get_by_role("button", name="Записать звонок").click()
    result = page.locator(".field", has=page.get_by_label("Результат звонка"))
    assert "has-error" in result.get_attribute("class")
    assert result.locator(".error").inner_text() != ""


@pytest.mark.parametrize("path", ["/hot/", "/contacts/{id}"])
def test_it_fits_the_hot_list_and_the_card_on_a_phone(phone_page, hot_contact, path):
    anna, contact = hot_contact
    log_in(phone_page, anna)
    phone_page.goto(path.format(id=contact.id))

    assert "Тойота" in phone_page.locator("main").inner_text()
    assert_no_horizontal_scroll(phone_page)
    screenshot(phone_page, "phone-hot-list" if path == "/hot/" else "phone-contact-card")
