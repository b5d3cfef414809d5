"""Contacts: creation with duplicate checks, the advisor's list, the card, notes and calls, archive, consent."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import consent, contacts
from campaigns.db import db
from campaigns.models import Advisor, Contact, Note, NoteKind, Role, Suppression
from tests.scenes import mail_note
from tests.support import waits_for_commit

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _notes(session, contact, kind=None):
    query = select(Note).where(Note.contact_id == contact.id)
    if kind:
        query = query.where(Note.kind == kind)
    return session.scalars(query.order_by(Note.id)).all()


# --- the domain -------------------------------------------------------------------------


def test_it_splits_a_company_typed_with_its_alias_and_finds_it_by_either_name(session, factory):
    advisor = factory.advisor()
    contact = contacts.create_contact(session, advisor, {"first_name": "Олег", "company": "Тойота (Toyota)"})
    assert (contact.company, contact.company_alias) == ("Тойота", "Toyota")
    assert contact.company_key
    for query in ("Тойота", "тойота", "Toyota", "TOYOTA"):
        page = contacts.contact_list(session, advisor, search=query)
        assert [c.id for c in page.items] == [contact.id], query


def test_it_finds_a_latin_company_by_its_cyrillic_spelling(session, factory):
    advisor = factory.advisor()
    contact = factory.contact(owner=advisor, company="Toyota", company_key="|toiota|")
    assert [c.id for c in contacts.contact_list(session, advisor, search="Тойота").items] == [contact.id]


def test_it_searches_names_email_and_phone(session, factory):
    advisor = factory.advisor()
    ivan = contacts.create_contact(
        session,
        advisor,
        {"first_name": "Иван", "last_name": "Кондрашов", "email": "Ivan@Example.COM", "phone": "8 (916) 123-45-67"},
    )
    factory.contact(owner=advisor, first_name="Пётр", last_name="Сидоров")
    assert ivan.email == "ivan@example.com" and ivan.phone == "+79161234567"
    for query in ("кондрашов", "Иван Кондрашов", "ivan@example", "8 916 123 45 67", "123-45-67"):
        assert [c.id for c in contacts.contact_list(session, advisor, search=query).items] == [ivan.id], query


def test_it_refuses_bad_email_and_phone_with_messages_per_field(session, factory):
    advisor = factory.advisor()
    with pytest.raises(contacts.ContactError) as error:
        contacts.create_contact(session, advisor, {"first_name": "Олег", "email": "oleg@", "phone": "12"})
    assert set(error.value.errors) == {"email", "phone"}


def test_it_accepts_an_idn_email(session, factory):
    contact = contacts.create_contact(session, factory.advisor(), {"first_name": "Олег", "email": "oleg@почта.рф"})
    assert contact.email.endswith("почта.рф")


def test_a_duplicate_shows_its_owner_and_needs_confirmation(session, factory):
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    existing = factory.contact(owner=anna, company="Силовые машины", company_key="|silovie mashini|")
    with pytest.raises(contacts.DuplicateContact) as error:
        contacts.create_contact(session, igor, {"first_name": "Олег", "company": "Силовые Машины ПАО"})
    match = error.value.matches[0]
    assert (match.contact_id, match.owner_name, error.value.blocking) == (existing.id, "Анна Соколова", False)
    created = contacts.create_contact(
        session, igor, {"first_name": "Олег", "company": "Силовые Машины ПАО"}, confirm_different=True
    )
    assert created.owner_id == igor.id and existing.owner_id == anna.id
    assert "подтвердил" in _notes(session, created)[0].body


def test_an_email_duplicate_can_never_be_confirmed_away(session, factory):
    anna = factory.advisor()
    factory.contact(owner=anna, email="boss@client.ru")
    with pytest.raises(contacts.DuplicateContact) as error:
        contacts.create_contact(
            session, factory.advisor(), {"first_name": "Олег", "email": "Boss@client.ru"}, confirm_different=True
        )
    assert error.value.blocking


def test_an_advisor_cannot_create_for_someone_else_or_change_the_owner(session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    with pytest.raises(contacts.NotAllowed):
        contacts.create_contact(session, anna, {"first_name": "Олег"}, owner=igor)
    contact = factory.contact(owner=anna)
    with pytest.raises(contacts.NotAllowed):
        contacts.update_contact(session, anna, contact, {"owner_id": igor.id})
    with pytest.raises(contacts.NotAllowed):
        contacts.update_contact(session, igor, contact, {"first_name": "Иван"})


def test_an_edit_leaves_a_note_listing_the_change(session, factory):
    anna = factory.advisor()
    tag = factory.tag("Строители")
    contact = factory.contact(owner=anna, last_name="Петров")
    changed = contacts.update_contact(session, anna, contact, {"last_name": "Петрова", "tags": [tag.id]})
    assert changed == ["Фамилия", "Теги"]
    assert contact.tags == [tag]
    body = _notes(session, contact, NoteKind.SYSTEM)[-1].body
    assert "Петров → Петрова" in body and "Строители" in body


def test_the_morning_list_puts_the_oldest_update_first(session, factory):
    anna = factory.advisor()
    now = datetime.now(UTC)
    fresh = factory.contact(owner=anna, updated_at=now)
    old = factory.contact(owner=anna, updated_at=now - timedelta(days=30))
    middle = factory.contact(owner=anna, updated_at=now - timedelta(days=3))
    factory.contact()  # somebody else's
    assert [c.id for c in contacts.contact_list(session, anna).items] == [old.id, middle.id, fresh.id]
    contacts.add_note(session, anna, old, "Позвонил, всё хорошо")
    assert [c.id for c in contacts.contact_list(session, anna).items] == [middle.id, fresh.id, old.id]


def test_the_filters_not_worked_call_today_and_tag(session, factory):
    anna = factory.advisor()
    tag = factory.tag("Медики")
    worked = factory.contact(owner=anna, tags=[tag], next_contact_on=date.today() + timedelta(days=5))
    contacts.add_note(session, anna, worked, "Встреча")
    stale = factory.contact(owner=anna, next_contact_on=date.today())
    session.add(Note(contact_id=stale.id, kind=NoteKind.MANUAL, body="давно", created_at=datetime.now(UTC) - timedelta(days=120)))
    # A system mail is not the advisor's work: the contact still counts as not worked.
    session.add(Note(contact_id=stale.id, kind=NoteKind.MAIL, body="Отправлено письмо"))
    session.flush()

    def ids(**kw):
        return {c.id for c in contacts.contact_list(session, anna, **kw).items}

    assert ids(not_worked_days=90) == {stale.id}
    assert ids(call_today=True) == {stale.id}
    assert ids(tag_id=tag.id) == {worked.id}


def test_the_list_is_paginated_by_fifty(session, factory):
    anna = factory.advisor()
    for _ in range(51):
        factory.contact(owner=anna)
    first, second = contacts.contact_list(session, anna), contacts.contact_list(session, anna, page=2)
    assert (len(first.items), len(second.items), first.total, first.pages) == (50, 1, 51, 2)


def test_archiving_hides_the_contact_from_its_advisor_and_leaves_a_note(session, factory):
    anna = factory.advisor()
    admin = factory.advisor(role=Role.ADMIN)
    contact = factory.contact(owner=anna)
    contacts.archive(session, anna, contact, "закрылась")
    assert contacts.get_visible_contact(session, anna, contact.id) is None
    assert contacts.get_visible_contact(session, admin, contact.id) is not None
    contacts.restore(session, admin, contact)
    assert contacts.get_visible_contact(session, anna, contact.id) is not None
    assert [n.body for n in _notes(session, contact)][0].startswith("Контакт перенесён в архив")


def test_an_unsubscribe_by_phone_suppresses_the_address_and_is_noted(session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna, email="no@client.ru")
    consent.unsubscribe_by_advisor(session, anna, contact, how=consent.BY_PHONE, reason="попросил сам")
    facts = consent.consent_facts(session, contact)
    assert not facts.mailable and facts.suppression.email == "no@client.ru"
    assert _notes(session, contact, NoteKind.UNSUBSCRIBE)


# --- the pages --------------------------------------------------------------------------


def _commit_login(client, session, user):
    session.commit()
    client.login(user)


def test_the_new_contact_form_shows_a_duplicate_with_its_owner_then_accepts_confirmation(client, session, factory):
    anna = factory.advisor(name="Анна Соколова")
    igor = factory.advisor(name="Игорь Беляев")
    factory.contact(owner=anna, company="Тойота", company_alias="Toyota", company_key="|toiota|")
    _commit_login(client, session, igor)
    form = {"first_name": "Олег", "company": "Toyota"}
    page = client.post_form("/contacts/new", form)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Анна Соколова" in html and "confirm_different" in html
    assert session.scalar(select(Contact).where(Contact.owner_id == igor.id)) is None
    response = client.post_form("/contacts/new", {**form, "confirm_different": "y"})
    assert response.status_code == 302
    created = session.scalar(select(Contact).where(Contact.owner_id == igor.id))
    assert created.company == "Toyota"


def test_the_form_shows_field_errors_beside_the_field(client, session, factory):
    _commit_login(client, session, factory.advisor())
    html = client.post_form("/contacts/new", {"first_name": "Олег", "email": "нет-собаки"}).get_data(as_text=True)
    assert re.search(r'has-error[^>]*>\s*<label for="email"', html)
    assert "нет знака @" in html


def test_the_card_shows_the_greeting_and_warns_about_the_fallback(client, session, factory):
    anna = factory.advisor()
    good = factory.contact(owner=anna, first_name="Василий", middle_name="Иванович")
    bad = factory.contact(owner=anna, first_name="Кондрашов")
    _commit_login(client, session, anna)
    assert "Письмо начнётся так: «Здравствуйте, Василий Иванович!»" in client.get(f"/contacts/{good.id}").get_data(as_text=True)
    html = client.get(f"/contacts/{bad.id}").get_data(as_text=True)
    assert "Здравствуйте!!" in html and "greeting-warning" in html


def test_the_card_timeline_is_newest_first_with_call_fields(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    _commit_login(client, session, anna)
    client.post_form(f"/contacts/{contact.id}/notes", {"body": "Первое примечание"})
    response = client.post_form(
        f"/contacts/{contact.id}/calls",
        {
            "result": "Ждёт каталог",
            "interest": "yes",
            "objection": "Бюджет в марте",
            "next_contact_on": (date.today() + timedelta(days=3)).isoformat(),
        },
    )
    assert response.status_code == 302
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert html.index("Ждёт каталог") < html.index("Первое примечание")
    assert "Бюджет в марте" in html and "интерес есть" in html


def test_a_call_without_next_date_is_refused_on_the_card(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    _commit_login(client, session, anna)
    response = client.post_form(f"/contacts/{contact.id}/calls", {"result": "Говорили", "interest": "no"})
    assert response.status_code == 422
    assert "Назначьте дату следующего контакта" in response.get_data(as_text=True)
    assert not _notes(session, contact, NoteKind.CALL)


def test_a_sent_mail_opens_in_full_from_its_note_with_the_html_inert(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    note = mail_note(session, contact, f"<p>Каталог</p>{XSS}")
    _commit_login(client, session, anna)
    card = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert f"/contacts/{contact.id}/mail/{note.id}" in card
    response = client.get(f"/contacts/{contact.id}/mail/{note.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Подарки к 8 марта" in html and "Каталог по ссылке." in html
    assert "<script>alert" not in html and 'sandbox=""' in html
    policy = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_an_html_payload_in_every_field_renders_escaped_on_list_and_card(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(
        owner=anna,
        first_name=XSS,
        middle_name=XSS,
        last_name=XSS,
        company=XSS,
        company_alias=XSS,
        position=XSS,
        consent_source=XSS,
    )
    session.add(Note(contact_id=contact.id, kind=NoteKind.MANUAL, body=XSS, author_id=anna.id))
    _commit_login(client, session, anna)
    for path in ("/contacts/", f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit", "/contacts/?q=script"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def test_forms_without_csrf_token_are_refused(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    _commit_login(client, session, anna)
    assert client.post(f"/contacts/{contact.id}/notes", data={"body": "x"}).status_code == 400
    assert client.post("/contacts/new", data={"first_name": "Олег"}).status_code == 400
    assert not _notes(session, contact, NoteKind.MANUAL)


def test_unsubscribed_contact_is_flagged_on_the_card(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna, email="off@client.ru", consent_source="визитка на выставке")
    session.add(Suppression(email="off@client.ru", reason="unsubscribe"))
    contact.unsubscribed_at = datetime.now(UTC)
    _commit_login(client, session, anna)
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Отписан" in html and "визитка на выставке" in html and "не получает рассылки" in html


def test_the_list_page_filters_by_tag_with_the_tags_in_its_menu(client, session, factory):
    anna = factory.advisor()
    medics, builders = factory.tag("Медики"), factory.tag("Строители")
    factory.contact(owner=anna, tags=[medics], last_name="Врачев", company="Клиника")
    factory.contact(owner=anna, tags=[builders], last_name="Каменщиков", company="СтройМонтаж")
    session.commit()
    client.login(anna)

    page = client.get(f"/contacts/?tag={medics.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<option value="{medics.id}" selected>Медики</option>' in html
    assert f'<option value="{builders.id}" >Строители</option>' in html
    assert "Клиника" in html and "СтройМонтаж" not in html


def test_an_address_change_waits_for_a_contact_being_created_at_it_and_is_refused(app, factory, session):
    """Two advisors at once: one creates a contact at oleg@…, the other changes a contact's address to
    it. The change waits for the creation (the contacts' write lock, as an import does) and then finds
    the duplicate: never two contacts at one address."""
    me = factory.advisor()
    mine = factory.contact(owner=me, email="old@faubeha.ru")
    session.commit()
    ids = (me.id, mine.id)
    other = Session(bind=db.engine)  # the other advisor's request: checked, inserted, not committed yet
    contacts.create_contact(other, other.get(Advisor, ids[0]), {"first_name": "Олег", "email": "oleg@faubeha.ru"})
    other.flush()
    outcome = {}

    def change_address() -> None:
        with app.app_context():
            try:
                user = db.session.get(Advisor, ids[0])
                contacts.update_contact(db.session, user, db.session.get(Contact, ids[1]), {"email": "oleg@faubeha.ru"})
                db.session.commit()
                outcome["changed"] = True
            except contacts.DuplicateContact as exc:
                outcome["duplicate"] = exc
            finally:
                db.registry.remove()

    assert waits_for_commit(other, change_address), "the address change must wait for the contact being created"
    assert "duplicate" in outcome and "changed" not in outcome
    assert session.scalar(select(func.count(Contact.id)).where(Contact.email == "oleg@faubeha.ru")) == 1
