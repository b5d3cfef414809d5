"""Search finds a contact however its name is typed: е/ё, Latin or Cyrillic, a company's other
spelling, any case; on PostgreSQL an index serves it (issue #18 search, #15)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from campaigns import contacts, search
from campaigns.models import Contact


def _found(session, user, query):
    return [c.id for c in contacts.contact_list(session, user, search=query).items]


def test_e_and_yo_latin_and_cyrillic_and_any_case_find_the_same_person(session, factory):
    advisor = factory.advisor()
    solovyov = contacts.create_contact(session, advisor, {"first_name": "Пётр", "last_name": "Соловьёв"})
    sokolov = contacts.create_contact(session, advisor, {"first_name": "Андрей", "last_name": "Соколов"})
    factory.contact(owner=advisor, first_name="Иван", last_name="Смирнов")
    for query in ("Соловьев", "соловьёв", "СОЛОВЬЕВ", "Solovev", "Петр Соловьев", "соловьев петр"):
        assert _found(session, advisor, query) == [solovyov.id], query
    for query in ("Sokolov", "SOKOLOV", "sokolov andrei", "Соколов"):
        assert _found(session, advisor, query) == [sokolov.id], query


def test_a_company_is_found_by_its_words_in_any_case_and_by_its_alias(session, factory):
    advisor = factory.advisor()
    rzd = contacts.create_contact(session, advisor, {"first_name": "Олег", "company": "РЖД-Логистика (RZD Logistics)"})
    factory.contact(owner=advisor, company="Логистика Плюс")
    for query in ("ржд логистика", "РЖД Логистика", "ржд", "RZD", "rzd logistics", "логистика ржд"):
        assert _found(session, advisor, query) == [rzd.id], query


def test_an_edit_and_an_import_keep_the_key_in_step(session, factory):
    advisor = factory.advisor()
    contact = contacts.create_contact(session, advisor, {"first_name": "Олег", "last_name": "Королёв"})
    contacts.update_contact(session, advisor, contact, {"last_name": "Киселёв"})
    session.flush()
    assert _found(session, advisor, "Kiselev") == [contact.id]
    assert _found(session, advisor, "Королев") == []


def test_the_search_box_finds_by_another_spelling_and_phone(client, session, factory):
    admin = factory.advisor(role="admin")
    person = factory.contact(first_name="Фёдор", last_name="Фёдоров", phone="+79161234567")
    session.commit()
    client.login(admin)
    for query in ("федоров", "Fedorov", "8 916 123-45-67"):
        page = client.raw.get("/contacts/", query_string={"q": query}).get_data(as_text=True)
        assert f"/contacts/{person.id}" in page, query
        body = client.raw.get("/api/contacts", query_string={"search": query}).get_json()
        assert [item["id"] for item in body["items"]] == [person.id], query


def test_a_phone_with_doubled_digits_is_found_by_any_part_of_it(client, session, factory):
    advisor = factory.advisor()
    person = contacts.create_contact(session, advisor, {"first_name": "Олег", "phone": "+7 916 000-11-22"})
    factory.contact(owner=advisor, phone="+79161234567")
    session.commit()
    for query in ("+7 916 000-11-22", "8 (916) 000 11 22", "9160001122", "000-11-22", "0001122"):
        assert _found(session, advisor, query) == [person.id], query
    client.login(advisor)
    body = client.raw.get("/api/contacts", query_string={"search": "000-11-22"}).get_json()
    assert [item["id"] for item in body["items"]] == [person.id]


def test_a_query_of_punctuation_finds_nobody(session, factory):
    advisor = factory.advisor()
    factory.contact(owner=advisor)
    assert _found(session, advisor, "!!!") == []
    assert search.normalise("«Ромашка»,  ЗАО") == "romashka zao"


def test_postgresql_answers_a_search_from_the_trigram_index(session, factory):
    if session.bind.dialect.name != "postgresql":
        pytest.skip("the index is PostgreSQL's")
    factory.contact(last_name="Соловьёв")
    session.flush()
    session.execute(text("SET LOCAL enable_seqscan = off"))  # a table of one row is read whole otherwise
    query = select(Contact.id).where(search.condition(Contact.search_key, "Соловьев"))
    compiled = query.compile(session.bind)
    plan = "\n".join(row[0] for row in session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
    assert "ix_contacts_search_key_trgm" in plan, plan


def test_the_migration_backfill_writes_every_stored_key_again(session, factory):
    advisor = factory.advisor()
    people = [factory.contact(owner=advisor, last_name=name) for name in ("Соловьёв", "Киселёв", "Орлов")]
    session.execute(text("UPDATE contacts SET search_key = ''"))
    assert _found(session, advisor, "Solovev") == []
    assert search.backfill(session.connection()) == 3
    assert _found(session, advisor, "Solovev") == [people[0].id]
    assert search.backfill(session.connection()) == 0
