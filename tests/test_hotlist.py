"""The hot list: own contacts who really clicked, most engaged first; handled ones leave."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from campaigns import hotlist, ownership
from campaigns.db import utcnow
from campaigns.models import Contact, Note, NoteKind, Verdict
from tests.scenes import Mailing


def names(entries):
    return [e.company for e in entries]


def test_it_lists_only_own_contacts_with_human_clicks_most_engaged_first(session, factory, settings):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    m = Mailing(session, factory)
    discount_today = factory.contact(owner=anna, company="Скидка сегодня")
    catalog_today = factory.contact(owner=anna, company="Каталог сегодня")
    discount_week_ago = factory.contact(owner=anna, company="Скидка неделю назад")
    twice = factory.contact(owner=anna, company="Каталог и скидка")
    scanned = factory.contact(owner=anna, company="Только сканер")
    too_old = factory.contact(owner=anna, company="Давно")
    archived = factory.contact(owner=anna, company="В архиве", archived_at=utcnow())
    igors = factory.contact(owner=igor, company="Клиент Игоря")
    m.click(discount_today, m.discount, timedelta(hours=2))
    m.click(catalog_today, m.catalog, timedelta(hours=1))
    m.click(discount_week_ago, m.discount, timedelta(days=7))
    m.click(twice, m.catalog, timedelta(hours=3))
    m.click(twice, m.discount, timedelta(hours=2, minutes=50))
    m.click(scanned, m.discount, timedelta(hours=1), verdict=Verdict.BOT)
    m.click(too_old, m.discount, timedelta(days=settings.hot_days + 1))
    m.click(archived, m.discount, timedelta(hours=1))
    m.click(igors, m.discount, timedelta(hours=1))

    entries = hotlist.hot_list(session, anna.id, settings)
    assert names(entries) == ["Каталог и скидка", "Скидка сегодня", "Каталог сегодня", "Скидка неделю назад"]
    both = entries[0]
    assert both.clicks == 2 and [link.label for link in both.links] == ["Скидка", "Каталог"]
    assert names(hotlist.hot_list(session, igor.id, settings)) == ["Клиент Игоря"]


def test_a_handled_contact_leaves_until_it_clicks_again(session, factory, settings):
    anna = factory.advisor()
    m = Mailing(session, factory)
    contact = factory.contact(owner=anna, company="Фаубеха")
    m.click(contact, m.discount, timedelta(hours=5))
    hotlist.dismiss(session, contact, anna)
    assert hotlist.hot_list(session, anna.id, settings) == []
    m.click(contact, m.catalog, -timedelta(seconds=1))  # a new click after the dismissal
    [entry] = hotlist.hot_list(session, anna.id, settings)
    assert entry.clicks == 1 and [link.label for link in entry.links] == ["Каталог"]


def test_the_page_shows_company_phone_clicks_and_last_note(client, session, factory):
    anna = factory.advisor()
    m = Mailing(session, factory)
    contact = factory.contact(owner=anna, company="Тойота", phone="+74951234567", next_contact_on=date(2026, 12, 7))
    session.add(Note(contact=contact, kind=NoteKind.MANUAL, body="Просили перезвонить после праздников"))
    m.click(contact, m.discount, timedelta(hours=1))
    session.commit()
    client.login(anna)
    page = client.get("/hot/").get_data(as_text=True)
    assert "Тойота" in page and 'href="tel:+74951234567"' in page
    assert "Скидка" in page and "Просили перезвонить после праздников" in page and "7 декабря 2026" in page
    assert 'class="responsive hot-list"' in page
    home = client.get("/").get_data(as_text=True)
    assert "Горячий список" in home and "Тойота" in home  # the advisor's home starts with it


def test_logging_a_call_writes_a_note_plans_the_next_contact_and_handles_the_entry(client, session, factory):
    anna = factory.advisor()
    m = Mailing(session, factory)
    contact = factory.contact(owner=anna, company="Тойота")
    m.click(contact, m.discount, timedelta(hours=1))
    session.commit()
    client.login(anna)
    next_date = (datetime.now(UTC) + timedelta(days=10)).date()
    response = client.post_form(
        f"/hot/{contact.id}/call",
        {
            f"c{contact.id}-result": "Заинтересовались, пришлю КП",
            f"c{contact.id}-interest": "yes",
            f"c{contact.id}-next_contact_on": next_date.isoformat(),
        },
    )
    assert response.status_code == 302
    session.expire_all()
    contact = session.get(Contact, contact.id)
    assert contact.next_contact_on == next_date and contact.hot_handled_at is not None
    [note] = session.query(Note).filter_by(contact_id=contact.id, kind=NoteKind.CALL).all()
    assert note.interest is True and note.author_id == anna.id and "Заинтересовались" in note.body
    assert "Тойота" not in client.get("/hot/").get_data(as_text=True).split("<h1>")[1].split("flash")[0]


def test_a_call_without_a_next_date_is_refused_beside_the_field(client, session, factory):
    anna = factory.advisor()
    m = Mailing(session, factory)
    contact = factory.contact(owner=anna)
    m.click(contact, m.discount, timedelta(hours=1))
    session.commit()
    client.login(anna)
    response = client.post_form(f"/hot/{contact.id}/call", {f"c{contact.id}-result": "Не дозвонился"})
    assert response.status_code == 422
    assert re.search(r"has-error.*Назначьте дату следующего контакта", response.get_data(as_text=True), re.S)
    assert session.query(Note).count() == 0


def test_not_interested_and_dismiss_take_the_contact_off_the_list(client, session, factory, settings):
    anna = factory.advisor()
    m = Mailing(session, factory)
    first, second = factory.contact(owner=anna), factory.contact(owner=anna)
    m.click(first, m.discount, timedelta(hours=1))
    m.click(second, m.discount, timedelta(hours=1))
    session.commit()
    client.login(anna)
    assert client.post_form(f"/hot/{first.id}/not-interested").status_code == 302
    assert client.post_form(f"/hot/{second.id}/dismiss").status_code == 302
    session.expire_all()
    assert hotlist.hot_list(session, anna.id, settings) == []
    kinds = {n.contact_id: (n.kind, n.interest) for n in session.query(Note)}
    assert kinds == {first.id: (NoteKind.CALL, False), second.id: (NoteKind.SYSTEM, None)}


def test_an_advisor_cannot_act_on_someone_elses_contact(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    contact = factory.contact(owner=igor)
    session.commit()
    client.login(anna)
    assert client.post_form(f"/hot/{contact.id}/dismiss").status_code == 404


def test_the_morning_digest_mails_each_advisor_their_list_and_skips_empty_ones(app, session, factory, settings, smtp_server):
    import dataclasses
    from email import message_from_bytes
    from email.policy import default

    from campaigns import digest
    from campaigns.config import parse_mail_url

    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    anna = factory.advisor(name="Анна", email="anna@studio.example.com")
    factory.advisor(name="Игорь")  # nobody clicked: no mail
    monday_0840 = datetime(2026, 11, 23, 5, 40, tzinfo=UTC)  # 08:40 in Moscow
    m = Mailing(session, factory)
    clicked_ago = utcnow() - (monday_0840 - timedelta(hours=12))  # the evening before
    m.click(factory.contact(owner=anna, company="Тойота", phone="+74951234567"), m.discount, clicked_ago)
    session.commit()
    assert digest.send_due_digests(session, smtp_settings, now=monday_0840 - timedelta(minutes=20)) == 0
    assert digest.send_due_digests(session, smtp_settings, now=monday_0840) == 1
    assert digest.send_due_digests(session, smtp_settings, now=monday_0840) == 0  # once a day
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["anna@studio.example.com"]
    msg = message_from_bytes(envelope.content, policy=default)
    assert msg["Subject"] == "Горячий список на 23 ноября: 1 клиент"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "1. Тойота" in text and "+74951234567" in text and "Скидка" in text and "/hot/" in text
    assert 'href="tel:+74951234567"' in html and "Тойота" in html
    sunday = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    assert digest.send_due_digests(session, smtp_settings, now=sunday) == 0


def test_a_transferred_contact_brings_its_clicks_to_the_new_owner_only(session, factory, settings):
    from campaigns.models import Role

    admin = factory.advisor(role=Role.ADMIN)
    anna, igor, olga = factory.advisor(name="Анна"), factory.advisor(name="Игорь"), factory.advisor(name="Ольга")
    m = Mailing(session, factory)
    moved = factory.contact(owner=anna, company="Передан Игорю")
    stays = factory.contact(owner=anna, company="Остаётся у Анны")
    m.click(moved, m.discount, timedelta(hours=2))
    m.click(stays, m.catalog, timedelta(hours=1))

    ownership.transfer_contacts(session, admin, [moved.id], igor, "Анна в отпуске")
    assert names(hotlist.hot_list(session, anna.id, settings)) == ["Остаётся у Анны"]
    [entry] = hotlist.hot_list(session, igor.id, settings)
    assert entry.company == "Передан Игорю" and [link.label for link in entry.links] == ["Скидка"]

    ownership.deactivate_advisor(session, admin, igor, olga, "уволился")
    assert hotlist.hot_list(session, igor.id, settings) == []
    assert names(hotlist.hot_list(session, olga.id, settings)) == ["Передан Игорю"]


def test_a_short_list_keeps_the_most_engaged_contacts_with_all_their_links(session, factory, settings):
    anna = factory.advisor()
    m = Mailing(session, factory)
    both = factory.contact(owner=anna, company="Оба перехода")
    discount = factory.contact(owner=anna, company="Скидка")
    catalog = factory.contact(owner=anna, company="Каталог")
    m.click(both, m.catalog, timedelta(hours=3))
    m.click(both, m.discount, timedelta(hours=2))
    m.click(discount, m.discount, timedelta(hours=1))
    m.click(catalog, m.catalog, timedelta(hours=1))

    entries = hotlist.hot_list(session, anna.id, settings, limit=2)
    assert names(entries) == ["Оба перехода", "Скидка"]
    assert [(link.label, link.count) for link in entries[0].links] == [("Скидка", 1), ("Каталог", 1)]


def test_each_row_carries_its_own_blank_call_form(client, session, factory, app):
    from flask import get_template_attribute, url_for

    from campaigns.web.forms import CallForm
    from campaigns.web.hot import _today

    anna = factory.advisor()
    m = Mailing(session, factory)
    people = [factory.contact(owner=anna, company=f"Тойота {i}") for i in range(3)]
    for person in people:
        m.click(person, m.discount, timedelta(hours=1))
    session.commit()
    client.login(anna)
    page = client.get("/hot/").get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="/hot/\d+/call".*?</form>', page, re.S)
    with app.test_request_context("/hot/"):
        token = re.search(r'name="csrf_token" value="([^"]+)"', forms[0]).group(1)
        macro = get_template_attribute("_call_form.html", "log_call_form")
        blank = [(CallForm.blank(prefix=f"c{p.id}", today=_today()), url_for("hot.call", contact_id=p.id)) for p in people]
        expected = [str(macro(form, action, _today(), submit="Сохранить")) for form, action in blank]
    expected = [re.sub(r'name="csrf_token" value="[^"]+"', f'name="csrf_token" value="{token}"', e) for e in expected]
    assert sorted(forms) == sorted(expected)
    assert all(f'name="c{p.id}-next_contact_on"' in page for p in people)
