"""Handovers by an advisor, duplicate attempts told to the owner, the next call's time and topic,
«Позвонить сегодня» by time and today's calls in the digest (#17)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from campaigns import calls, contacts, digest, duplicates, ownership
from campaigns.config import parse_mail_url
from campaigns.models import Contact, Note, NoteKind, Role
from tests.scenes import write_csv


def _notes(session, contact, kind=NoteKind.OWNER):
    return [n.body for n in session.scalars(select(Note).where(Note.contact_id == contact.id, Note.kind == kind))]


def test_an_advisor_hands_several_own_contacts_to_a_colleague_with_a_reason(client, session, factory):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    first, second, kept = (factory.contact(owner=anna, company=f"Компания {n}") for n in "АБВ")
    session.commit()
    client.login(anna)
    page = client.get(f"/handover/?contact={first.id}").get_data(as_text=True)
    assert f'value="{first.id}" id="hand-{first.id}" checked' in page
    response = client.post_form(
        "/handover/",
        {"contact": [str(first.id), str(second.id)], "new_owner_id": str(igor.id), "reason": "клиенты из Казани"},
        follow_redirects=True,
    )
    assert "Передано контактов: 2 → Игорь." in response.get_data(as_text=True)
    session.expire_all()
    assert [session.get(Contact, c.id).owner_id for c in (first, second, kept)] == [igor.id, igor.id, anna.id]
    assert _notes(session, first) == ["Передан от Анна к Игорь: клиенты из Казани"]
    # The giver sees them in «Переданы мной», the new owner in «Переданы мне».
    mine = client.get("/handover/").get_data(as_text=True)
    by_me = mine[mine.index("Переданы мной") :]
    assert "Компания А" in by_me and "клиенты из Казани" in by_me
    client.post_form("/logout")
    client.login(igor)
    page = client.get("/handover/").get_data(as_text=True)
    to_me = page[page.index("Переданы мне") : page.index("Передать свои контакты")]
    assert "Компания А" in to_me and "Компания Б" in to_me and "Компания В" not in to_me
    assert "Передан от Анна к Игорь: клиенты из Казани" in to_me


def test_an_advisor_hands_a_contact_to_the_house_advisor(session, factory):
    anna, house = factory.advisor(name="Анна"), factory.house_advisor()
    contact = factory.contact(owner=anna)
    assert ownership.handover(session, anna, [contact.id], house, "клиент просил не звонить, только рассылка") == 1
    assert session.get(Contact, contact.id).owner_id == house.id


def test_an_advisor_cannot_hand_someone_elses_contact_nor_without_a_reason(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    igors = factory.contact(owner=igor)
    own = factory.contact(owner=anna)
    with pytest.raises(contacts.NotAllowed):
        ownership.handover(session, anna, [igors.id], anna, "хочу себе")
    with pytest.raises(contacts.ContactError) as error:
        ownership.handover(session, anna, [own.id], igor, "  ")
    assert "reason" in error.value.errors
    with pytest.raises(contacts.ContactError):
        ownership.handover(session, anna, [], igor, "причина")
    session.commit()
    client.login(anna)
    response = client.post_form("/handover/", {"contact": [str(igors.id)], "new_owner_id": str(anna.id), "reason": "хочу себе"})
    assert response.status_code == 403
    session.expire_all()
    assert session.get(Contact, igors.id).owner_id == igor.id


def test_a_duplicate_attempt_notes_the_existing_contact_and_its_owner_learns_it_in_the_digest(
    client, session, factory, settings, smtp_server
):
    anna = factory.advisor(name="Анна", email="anna@studio.example.com")
    igor = factory.advisor(name="Игорь")
    existing = factory.contact(owner=anna, company="Тойота", email="ivanov@toyota.example.com")
    session.commit()
    client.login(igor)
    page = client.post_form("/contacts/new", {"first_name": "Иван", "email": "ivanov@toyota.example.com"})
    assert "Похожие контакты уже есть" in page.get_data(as_text=True)
    client.post_form("/contacts/new", {"first_name": "Иван", "email": "ivanov@toyota.example.com"})  # the same attempt
    session.expire_all()
    [note] = _notes(session, existing, NoteKind.SYSTEM)
    assert note.startswith(duplicates.ATTEMPT_NOTE) and "Игорь" in note
    assert session.get(Contact, existing.id).owner_id == anna.id
    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    assert digest.send_digests(session, smtp_settings) == 1
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["anna@studio.example.com"]
    text = message_from_bytes(envelope.content, policy=default).get_body(("plain",)).get_content()
    assert "Коллеги пытались добавить ваших клиентов" in text and "Тойота" in text and "Игорь" in text


def test_the_next_call_has_a_date_an_optional_time_and_a_topic(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    session.commit()
    client.login(anna)
    tomorrow = date.today() + timedelta(days=1)
    response = client.post_form(
        f"/contacts/{contact.id}/calls",
        {
            "result": "просил перезвонить",
            "interest": "yes",
            "next_contact_on": tomorrow.isoformat(),
            "next_contact_time": "11:30",
            "topic": "обсудить каталог",
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "в 11:30" in page and "обсудить каталог" in page
    session.expire_all()
    contact = session.get(Contact, contact.id)
    assert (contact.next_contact_on, contact.next_contact_time, contact.next_contact_topic) == (
        tomorrow,
        time(11, 30),
        "обсудить каталог",
    )
    assert f"{tomorrow:%d.%m.%Y} в 11:30: обсудить каталог" in _notes(session, contact, NoteKind.CALL)[0]
    bad = client.post_form(
        f"/contacts/{contact.id}/calls",
        {"result": "x", "interest": "no", "next_contact_on": tomorrow.isoformat(), "next_contact_time": "25:99"},
    )
    assert bad.status_code == 422 and "Время в виде 11:30" in bad.get_data(as_text=True)


def test_call_today_is_sorted_by_time_and_the_digest_lists_todays_calls(client, session, factory, settings, smtp_server):
    anna = factory.advisor(name="Анна", email="anna@studio.example.com")
    monday_0840 = datetime(2026, 11, 23, 5, 40, tzinfo=UTC)
    today = date(2026, 11, 23)
    factory.contact(owner=anna, company="Без времени", next_contact_on=today)
    factory.contact(
        owner=anna, company="В 15:00", next_contact_on=today, next_contact_time=time(15, 0), next_contact_topic="счёт на подарки"
    )
    factory.contact(owner=anna, company="В 10:00", next_contact_on=today, next_contact_time=time(10, 0))
    factory.contact(owner=anna, company="Завтра", next_contact_on=today + timedelta(days=1), next_contact_time=time(9))
    session.commit()
    assert [c.company for c in calls.planned_calls(session, anna, today)] == ["В 10:00", "В 15:00", "Без времени"]
    page = contacts.contact_list(session, anna, call_today=True, today=today)
    assert [c.company for c in page.items] == ["В 10:00", "В 15:00", "Без времени"]
    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    assert digest.send_due_digests(session, smtp_settings, now=monday_0840) == 1  # no hot list: the calls alone
    msg = message_from_bytes(smtp_server.messages[0].content, policy=default)
    text = msg.get_body(("plain",)).get_content()
    assert "Звонки на сегодня" in text
    assert text.index("10:00 — В 10:00") < text.index("15:00 — В 15:00") < text.index("в течение дня — Без времени")
    assert ": счёт на подарки" in text
    assert "Завтра" not in text
    assert msg["Subject"] == "План на 23 ноября; звонков: 3"


def test_an_admin_transfer_also_shows_in_handed_to_me(session, factory):
    admin = factory.advisor(role=Role.ADMIN)
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    contact = factory.contact(owner=anna)
    ownership.transfer_contacts(session, admin, [contact.id], igor, "отпуск")
    assert [h.contact.id for h in ownership.handed_over(session, igor, to_me=True)] == [contact.id]
    assert ownership.handed_over(session, anna, to_me=True) == []


def test_an_import_that_meets_a_colleagues_contact_notes_it_and_the_owner_sees_it_at_home(client, session, factory, tmp_path):
    from campaigns.import_check import ImportOptions
    from campaigns.import_commit import commit_import

    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    existing = factory.contact(owner=anna, company="Тойота", email="ivanov@toyota.example.com")
    own = factory.contact(owner=igor, company="Рики", email="petrov@riki.example.com")
    session.commit()
    path = write_csv(
        tmp_path,
        [
            ["Имя", "E-mail рабочий"],
            ["Иван", "IVANOV@toyota.example.com"],
            ["Пётр", "petrov@riki.example.com"],
            ["Новый", "new@x.example.ru"],
        ],
    )
    result = commit_import(session, path, "igor.csv", ImportOptions(user_id=igor.id, skip_errors=True))
    assert (result.created, result.duplicates) == (1, 2)
    [note] = _notes(session, existing, NoteKind.SYSTEM)
    assert note.startswith(duplicates.ATTEMPT_NOTE) and "Игорь" in note
    assert not any(n.startswith(duplicates.ATTEMPT_NOTE) for n in _notes(session, own, NoteKind.SYSTEM))
    client.login(anna)
    page = client.get("/").get_data(as_text=True)
    assert "Коллеги пытались добавить ваших клиентов" in page and "Игорь" in page


def test_the_api_plans_the_next_call_with_a_time_and_a_topic(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    session.commit()
    client.login(anna)
    headers = {"X-CSRFToken": client.csrf_token("/")}
    next_on = (date.today() + timedelta(days=2)).isoformat()
    done = client.post(
        f"/api/contacts/{contact.id}/notes",
        headers=headers,
        json={
            "kind": "call",
            "result": "Говорили",
            "interest": True,
            "next_contact_on": next_on,
            "next_contact_time": "16:45",
            "topic": "счёт",
        },
    )
    assert done.status_code == 201
    card = client.get(f"/api/contacts/{contact.id}").get_json()
    assert (card["next_contact_on"], card["next_contact_time"], card["next_contact_topic"]) == (next_on, "16:45", "счёт")


def test_the_new_owner_reads_the_handover_in_the_morning_digest(session, factory, settings, smtp_server):
    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь", email="igor@studio.example.com")
    contact = factory.contact(owner=anna, company="Тойота")
    ownership.handover(session, anna, [contact.id], igor, "клиент из Казани")
    session.commit()
    assert digest.send_digests(session, smtp_settings) == 1  # Anna has nothing to read; Igor has the handover
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["igor@studio.example.com"]
    text = message_from_bytes(envelope.content, policy=default).get_body(("plain",)).get_content()
    assert "Вам передали контакты" in text and "Тойота: Передан от Анна к Игорь: клиент из Казани" in text
    assert "/handover/" in text
