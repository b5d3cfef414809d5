"""The JSON API: the same rules as the pages, CSRF by header, errors as {"errors": {field: message}}."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from campaigns.models import Contact, Note, NoteKind


def _login(client, session, user):
    session.commit()
    client.login(user)
    return {"X-CSRFToken": client.csrf_token("/")}


def test_it_creates_a_contact_and_splits_the_alias(client, session, factory):
    anna = factory.advisor()
    tag = factory.tag("Автотранспорт")
    headers = _login(client, session, anna)
    response = client.post(
        "/api/contacts",
        json={"first_name": "Олег", "company": "Тойота (Toyota)", "email": "oleg@toyota.ru", "tags": ["Автотранспорт"]},
        headers=headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["company"], body["company_alias"], body["tags"], body["owner"]["id"]) == (
        "Тойота",
        "Toyota",
        [tag.name],
        anna.id,
    )
    assert body["greeting"] == "Здравствуйте, Олег!"
    for query in ("Toyota", "Тойота"):
        assert [c["id"] for c in client.get(f"/api/contacts?search={query}").get_json()["items"]] == [body["id"]]


def test_a_duplicate_answers_409_with_the_matches_and_their_owner(client, session, factory):
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, company="ГК Рики", company_alias="Смешарики", company_key="|riki|smeshariki|")
    headers = _login(client, session, factory.advisor())
    response = client.post("/api/contacts", json={"first_name": "Олег", "company": "Смешарики"}, headers=headers)
    assert response.status_code == 409
    body = response.get_json()
    assert "duplicate" in body["errors"] and body["can_confirm"] is True
    assert body["matches"][0]["owner_name"] == "Анна Соколова"
    confirmed = client.post(
        "/api/contacts", json={"first_name": "Олег", "company": "Смешарики", "confirm_different": True}, headers=headers
    )
    assert confirmed.status_code == 201


def test_bad_fields_answer_400_per_field(client, session, factory):
    headers = _login(client, session, factory.advisor())
    response = client.post("/api/contacts", json={"email": "x@", "phone": "abc", "tags": ["Нет такого"]}, headers=headers)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"email", "phone", "tags"}
    assert client.post("/api/contacts", data="not json", headers=headers).status_code == 400


def test_patch_changes_fields_and_refuses_the_owner(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    contact = factory.contact(owner=anna)
    headers = _login(client, session, anna)
    response = client.patch(
        f"/api/contacts/{contact.id}", json={"position": "Директор", "phone": "+7 916 000-11-22"}, headers=headers
    )
    assert response.status_code == 200
    assert (response.get_json()["position"], response.get_json()["phone"]) == ("Директор", "+79160001122")
    refused = client.patch(f"/api/contacts/{contact.id}", json={"owner_id": igor.id}, headers=headers)
    assert refused.status_code == 400 and "owner_id" in refused.get_json()["errors"]
    assert session.get(Contact, contact.id).owner_id == anna.id


def test_a_call_through_the_api_requires_the_next_date(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    headers = _login(client, session, anna)
    url = f"/api/contacts/{contact.id}/notes"
    refused = client.post(url, json={"kind": "call", "result": "Говорили", "interest": False}, headers=headers)
    assert refused.status_code == 400 and "next_contact_on" in refused.get_json()["errors"]
    next_on = (date.today() + timedelta(days=2)).isoformat()
    done = client.post(
        url, json={"kind": "call", "result": "Говорили", "interest": True, "next_contact_on": next_on}, headers=headers
    )
    assert done.status_code == 201 and done.get_json()["next_contact_on"] == next_on
    card = client.get(f"/api/contacts/{contact.id}").get_json()
    assert card["next_contact_on"] == next_on and card["notes"][0]["kind"] == "call"


def test_writes_without_the_csrf_header_are_refused(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    _login(client, session, anna)
    for response in (
        client.post("/api/contacts", json={"first_name": "Олег"}),
        client.patch(f"/api/contacts/{contact.id}", json={"position": "x"}),
        client.post(f"/api/contacts/{contact.id}/notes", json={"body": "x"}),
        client.post(f"/api/contacts/{contact.id}/notes", json={"body": "x"}, headers={"X-CSRFToken": "forged"}),
    ):
        assert response.status_code == 400
        assert "csrf" in response.get_json()["errors"]
    assert session.scalar(select(Note).where(Note.kind == NoteKind.MANUAL)) is None
    assert session.get(Contact, contact.id).position == ""


def test_the_list_is_paginated_and_filtered(client, session, factory):
    anna = factory.advisor()
    tag = factory.tag("Медики")
    for _ in range(55):
        factory.contact(owner=anna)
    tagged = factory.contact(owner=anna, tags=[tag])
    _login(client, session, anna)
    first = client.get("/api/contacts").get_json()
    assert (len(first["items"]), first["total"], first["pages"]) == (50, 56, 2)
    assert len(client.get("/api/contacts?page=2").get_json()["items"]) == 6
    assert [c["id"] for c in client.get(f"/api/contacts?tag={tag.id}").get_json()["items"]] == [tagged.id]
