"""Administration: users, deactivation with an heir, moving contacts one by one and in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns import contacts, ownership
from campaigns.models import Advisor, Contact, Note, NoteKind, Role
from tests.support import PASSWORD


def _owner_notes(session, contact):
    return [n.body for n in session.scalars(select(Note).where(Note.contact_id == contact.id, Note.kind == NoteKind.OWNER))]


@pytest.fixture
def admin(factory):
    return factory.advisor(role=Role.ADMIN, name="Сергей Орлов")


def test_a_transfer_moves_many_contacts_and_notes_each_move(session, factory, admin):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    moving = [factory.contact(owner=anna) for _ in range(3)]
    staying = factory.contact(owner=anna)
    moved = ownership.transfer_contacts(session, admin, [c.id for c in moving], igor, "Анна в отпуске")
    assert moved == 3
    for contact in moving:
        assert session.get(Contact, contact.id).owner_id == igor.id
        assert _owner_notes(session, contact) == ["Передан от Анна к Игорь: Анна в отпуске"]
    assert session.get(Contact, staying.id).owner_id == anna.id and _owner_notes(session, staying) == []


def test_a_transfer_needs_a_reason_and_an_admin(session, factory, admin):
    anna, igor = factory.advisor(), factory.advisor()
    contact = factory.contact(owner=anna)
    with pytest.raises(contacts.ContactError) as error:
        ownership.transfer_contacts(session, admin, [contact.id], igor, "  ")
    assert "reason" in error.value.errors
    with pytest.raises(contacts.NotAllowed):
        ownership.transfer_contacts(session, igor, [contact.id], igor, "хочу себе")


def test_deactivation_requires_an_heir_and_moves_every_contact_with_notes(session, factory, admin):
    leaving, heir = factory.advisor(name="Уходящий"), factory.advisor(name="Наследник")
    live, archived = factory.contact(owner=leaving), factory.contact(owner=leaving, archived_at=datetime.now(UTC))
    with pytest.raises(contacts.ContactError) as error:
        ownership.deactivate_advisor(session, admin, leaving, None)
    assert "heir" in error.value.errors and leaving.active
    assert ownership.deactivate_advisor(session, admin, leaving, heir, "уволился") == 2
    assert not session.get(Advisor, leaving.id).active
    for contact in (live, archived):
        assert session.get(Contact, contact.id).owner_id == heir.id
        assert _owner_notes(session, contact)[0].startswith("Передан от Уходящий к Наследник: Уходящий деактивирован(а)")


def test_the_house_advisor_cannot_be_deactivated(session, factory, admin):
    house = factory.house_advisor()
    with pytest.raises(contacts.ContactError) as error:
        ownership.deactivate_advisor(session, admin, house, factory.advisor())
    assert "advisor" in error.value.errors


def test_the_users_page_creates_a_user_who_can_log_in(client, session, admin):
    session.commit()
    client.login(admin)
    response = client.post_form(
        "/admin/users/new",
        {"email": "New@Studio.ru", "name": "Новый Советник", "role": "advisor", "password": PASSWORD, "phone": ""},
    )
    assert response.status_code == 302
    user = session.scalar(select(Advisor).where(Advisor.email == "new@studio.ru"))
    assert user.role == Role.ADVISOR and user.password_hash != PASSWORD
    assert "Новый Советник" in client.get("/admin/users").get_data(as_text=True)
    client.post_form("/logout")
    client.login(user)


def test_the_user_form_refuses_a_short_password_and_a_taken_address(client, session, admin):
    session.commit()
    client.login(admin)
    html = client.post_form(
        "/admin/users/new", {"email": admin.email, "name": "Х", "role": "advisor", "password": "short"}
    ).get_data(as_text=True)
    assert "Не короче 10 символов" in html
    html = client.post_form(
        "/admin/users/new", {"email": admin.email, "name": "Х", "role": "advisor", "password": PASSWORD}
    ).get_data(as_text=True)
    assert "уже есть" in html


def test_the_deactivate_page_asks_for_the_heir(client, session, factory, admin):
    leaving, heir = factory.advisor(), factory.advisor(name="Наследник")
    contact = factory.contact(owner=leaving)
    session.commit()
    client.login(admin)
    page = client.get(f"/admin/users/{leaving.id}/deactivate").get_data(as_text=True)
    assert "1 контакт" in page and "Наследник" in page
    html = client.post_form(f"/admin/users/{leaving.id}/deactivate", {"reason": "ушёл"}).get_data(as_text=True)
    assert "Выберите, кому перейдут контакты" in html
    response = client.post_form(f"/admin/users/{leaving.id}/deactivate", {"heir_id": heir.id, "reason": "ушёл"})
    assert response.status_code == 302
    assert session.get(Contact, contact.id).owner_id == heir.id


def test_the_bulk_transfer_counts_before_moving_the_not_worked_contacts(client, session, factory, admin):
    anna = factory.advisor(name="Анна")
    house = factory.house_advisor(name="Василий Тупин")
    idle = [factory.contact(owner=anna) for _ in range(2)]
    busy = factory.contact(owner=anna)
    session.add(Note(contact_id=busy.id, kind=NoteKind.CALL, body="звонок", created_at=datetime.now(UTC) - timedelta(days=5)))
    session.commit()
    client.login(admin)
    page = client.get(f"/admin/transfer?owner={anna.id}&days=90").get_data(as_text=True)
    assert "2 контакта" in page
    response = client.post_form(
        "/admin/transfer",
        {"owner": anna.id, "days": 90, "expected": 2, "new_owner_id": house.id, "reason": "не в работе полгода"},
    )
    assert response.status_code == 302
    assert {c.id for c in session.scalars(select(Contact).where(Contact.owner_id == house.id))} == {c.id for c in idle}
    assert _owner_notes(session, idle[0]) == ["Передан от Анна к Василий Тупин: не в работе полгода"]


def test_the_bulk_transfer_refuses_when_the_selection_changed(client, session, factory, admin):
    anna, igor = factory.advisor(), factory.advisor()
    factory.contact(owner=anna)
    session.commit()
    client.login(admin)
    html = client.post_form(
        "/admin/transfer", {"owner": anna.id, "expected": 5, "new_owner_id": igor.id, "reason": "x"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "список изменился" in html
    assert session.scalar(select(Contact.owner_id)) == anna.id


def test_admin_transfers_one_contact_from_its_card(client, session, factory, admin):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    contact = factory.contact(owner=anna)
    session.commit()
    client.login(admin)
    assert "Передать" in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    client.post_form(f"/contacts/{contact.id}/transfer", {"new_owner_id": igor.id, "reason": "просьба клиента"})
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Передан от Анна к Игорь: просьба клиента" in html
