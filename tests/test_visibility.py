"""Who may see and change which contact: advisor / marketing / admin × own / somebody else's contact.

A request for somebody else's contact answers 404 — exactly as for a contact that does not
exist — and never shows its data. Marketing reads everything and changes nothing (403)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.models import Note, Role
from tests.scenes import make_key

SECRET = "Секретнова"


def _text(response) -> str:
    return json.dumps(response.get_json(), ensure_ascii=False) if response.is_json else response.get_data(as_text=True)


@pytest.fixture
def world(session, factory):
    me = factory.advisor(name="Анна Соколова")
    other = factory.advisor(name="Игорь Беляев")
    marketing = factory.advisor(role=Role.MARKETING, name="Мария Маркетинг")
    admin = factory.advisor(role=Role.ADMIN, name="Сергей Админ")
    own = factory.contact(owner=me, last_name="Своя")
    others = factory.contact(owner=other, last_name=SECRET, email="secret@client.ru")
    session.commit()
    return {"advisor": me, "marketing": marketing, "admin": admin, "own": own, "other": others}


def _requests(client, contact_id):
    """(action, response) for every way of touching one contact."""
    token = client.csrf_token("/")
    api = {"X-CSRFToken": token}
    next_on = (date.today() + timedelta(days=3)).isoformat()
    return {
        "card": client.get(f"/contacts/{contact_id}"),
        "edit": client.get(f"/contacts/{contact_id}/edit"),
        "save": client.post(f"/contacts/{contact_id}/edit", data={"csrf_token": token, "first_name": "Иван"}),
        "note": client.post(f"/contacts/{contact_id}/notes", data={"csrf_token": token, "body": "заметка"}),
        "call": client.post(
            f"/contacts/{contact_id}/calls",
            data={"csrf_token": token, "result": "ок", "interest": "yes", "next_contact_on": next_on},
        ),
        "api_get": client.get(f"/api/contacts/{contact_id}"),
        "api_patch": client.patch(f"/api/contacts/{contact_id}", json={"position": "Директор"}, headers=api),
        "api_note": client.post(f"/api/contacts/{contact_id}/notes", json={"body": "заметка"}, headers=api),
        "archive": client.post(f"/contacts/{contact_id}/archive", data={"csrf_token": token}),
    }


# role, whose contact → expected status per action (302: done, then back to the card/list)
MATRIX = {
    ("advisor", "own"): {
        "card": 200,
        "edit": 200,
        "save": 302,
        "note": 302,
        "call": 302,
        "archive": 302,
        "api_get": 200,
        "api_patch": 200,
        "api_note": 201,
    },
    ("advisor", "other"): {
        a: 404 for a in ("card", "edit", "save", "note", "call", "archive", "api_get", "api_patch", "api_note")
    },
    ("marketing", "own"): {
        "card": 200,
        "edit": 403,
        "save": 403,
        "note": 403,
        "call": 403,
        "archive": 403,
        "api_get": 200,
        "api_patch": 403,
        "api_note": 403,
    },
    ("admin", "other"): {
        "card": 200,
        "edit": 200,
        "save": 302,
        "note": 302,
        "call": 302,
        "archive": 302,
        "api_get": 200,
        "api_patch": 200,
        "api_note": 201,
    },
}
MATRIX[("marketing", "other")] = MATRIX[("marketing", "own")]
MATRIX[("admin", "own")] = MATRIX[("admin", "other")]


@pytest.mark.parametrize(("role", "whose"), sorted(MATRIX))
def test_it_answers_the_visibility_matrix(client, session, world, role, whose):
    client.login(world[role])
    contact = world[whose]
    responses = _requests(client, contact.id)
    assert {action: r.status_code for action, r in responses.items()} == MATRIX[(role, whose)]
    if MATRIX[(role, whose)]["card"] == 404:
        for action, response in responses.items():
            assert SECRET not in _text(response), action
        notes = session.scalar(select(func.count(Note.id)).where(Note.contact_id == contact.id))
        assert notes == 0


@pytest.mark.parametrize(("role", "sees_other"), [("advisor", False), ("marketing", True), ("admin", True)])
def test_the_list_and_search_show_only_what_the_role_may_see(client, world, role, sees_other):
    client.login(world[role])
    for path in ("/contacts/", f"/contacts/?q={SECRET}", f"/api/contacts?search={SECRET}"):
        response = client.get(path)
        assert response.status_code == 200
        # The address, not the surname: the search box repeats what was searched for.
        assert ("secret@client.ru" in _text(response)) is sees_other, path


def test_a_contact_that_does_not_exist_looks_the_same_as_somebody_elses(client, world):
    client.login(world["advisor"])
    missing, foreign = client.get("/contacts/999999"), client.get(f"/contacts/{world['other'].id}")
    assert missing.status_code == foreign.status_code == 404
    assert missing.get_data() == foreign.get_data()


def test_a_sent_mail_of_somebody_elses_contact_is_404(client, session, world):
    note = Note(contact_id=world["other"].id, kind="mail", subject="x", raw_message="Subject: x\n\nsecret", body="x")
    session.add(note)
    session.commit()
    client.login(world["advisor"])
    assert client.get(f"/contacts/{world['other'].id}/mail/{note.id}").status_code == 404
    # Nor through one's own contact's address with a foreign note id.
    assert client.get(f"/contacts/{world['own'].id}/mail/{note.id}").status_code == 404


def test_marketing_cannot_create_contacts_and_only_admin_reaches_admin_pages(client, world):
    client.login(world["marketing"])
    assert client.get("/contacts/new").status_code == 403
    assert (
        client.post("/api/contacts", json={"first_name": "Олег"}, headers={"X-CSRFToken": client.csrf_token("/")}).status_code
        == 403
    )
    for path in ("/admin/users", "/admin/transfer", "/admin/users/new"):
        assert client.get(path).status_code == 403, path


def test_an_advisor_reaches_no_admin_page(client, world):
    client.login(world["advisor"])
    for path in ("/admin/users", "/admin/transfer", f"/admin/users/{world['advisor'].id}/deactivate"):
        assert client.get(path).status_code == 403, path
    token = client.csrf_token("/")
    response = client.post(f"/contacts/{world['own'].id}/transfer", data={"csrf_token": token, "reason": "себе"})
    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_log_in_and_the_api_answers_401(client, world):
    assert client.get(f"/contacts/{world['own'].id}").status_code == 302
    assert client.get("/api/contacts").status_code == 401


def _key_for(client, session, user) -> dict:

    return {"Authorization": f"Bearer {make_key(client, session, user)}"}


# The API's part of the matrix, asked with each role's API key instead of a log-in (#19).
API_ACTIONS = ("api_get", "api_patch", "api_note", "api_notes", "api_list")


@pytest.mark.parametrize(("role", "whose"), sorted(MATRIX))
def test_an_api_key_answers_the_same_visibility_matrix(client, session, world, role, whose):
    headers = _key_for(client, session, world[role])
    contact_id = world[whose].id
    responses = {
        "api_get": client.get(f"/api/contacts/{contact_id}", headers=headers),
        "api_patch": client.patch(f"/api/contacts/{contact_id}", json={"position": "Директор"}, headers=headers),
        "api_note": client.post(f"/api/contacts/{contact_id}/notes", json={"body": "заметка"}, headers=headers),
        "api_notes": client.get(f"/api/contacts/{contact_id}/notes", headers=headers),
        "api_list": client.get(f"/api/contacts?search={SECRET}", headers=headers),
    }
    expected = {action: MATRIX[(role, whose)][action] for action in ("api_get", "api_patch", "api_note")}
    expected["api_notes"] = expected["api_get"]
    expected["api_list"] = 200
    assert {action: r.status_code for action, r in responses.items()} == expected
    sees_other = role != "advisor"
    assert ("secret@client.ru" in _text(responses["api_list"])) is sees_other
    if expected["api_get"] == 404:
        for action, response in responses.items():
            assert SECRET not in _text(response), action
        assert session.scalar(select(func.count(Note.id)).where(Note.contact_id == contact_id)) == 0


# Tags, an offer's links and catalog, results: read by every role, written by marketing and admin
# only — asked with each role's key (#19). {action: {role: status}}
CATALOG_MATRIX = {
    "tags_read": {"advisor": 200, "marketing": 200, "admin": 200},
    "tag_create": {"advisor": 403, "marketing": 201, "admin": 201},
    "tag_update": {"advisor": 403, "marketing": 200, "admin": 200},
    "links_read": {"advisor": 200, "marketing": 200, "admin": 200},
    "links_write": {"advisor": 403, "marketing": 200, "admin": 200},
    "catalog_upload": {"advisor": 403, "marketing": 200, "admin": 200},
    "results": {"advisor": 403, "marketing": 200, "admin": 200},
}


@pytest.mark.parametrize("role", ["advisor", "marketing", "admin"])
def test_an_api_key_writes_tags_links_and_catalogs_only_with_marketings_role(client, session, factory, world, role):
    import io

    from campaigns.models import Link, Tag

    tag = factory.tag("Медики")
    offer = factory.offer(tag=tag, year=2027)
    offer.links = [Link(name="catalog", url="https://gifts.example.com/c", label="Каталог", weight=1)]
    session.commit()
    headers = _key_for(client, session, world[role])
    pdf = b"%PDF-1.7\n" + b"0" * 100 + b"\n%%EOF\n"
    links = {"links": [{"name": "catalog", "url": "https://gifts.example.com/new"}]}
    responses = {
        "tags_read": client.get("/api/tags", headers=headers),
        "tag_create": client.post("/api/tags", json={"name": "Новый", "kind": "industry", "rule": "1 mar"}, headers=headers),
        "tag_update": client.patch(f"/api/tags/{tag.id}", json={"description": "врачи"}, headers=headers),
        "links_read": client.get(f"/api/offers/{offer.id}/links", headers=headers),
        "links_write": client.put(f"/api/offers/{offer.id}/links", json=links, headers=headers),
        "catalog_upload": client.post(
            f"/api/offers/{offer.id}/catalog",
            data={"file": (io.BytesIO(pdf), "c.pdf")},
            headers=headers,
            content_type="multipart/form-data",
        ),
        "results": client.get("/api/results", headers=headers),
    }
    assert {action: r.status_code for action, r in responses.items()} == {a: by[role] for a, by in CATALOG_MATRIX.items()}
    session.expire_all()
    if role == "advisor":  # nothing written
        assert session.scalar(select(func.count(Tag.id))) == 1 and session.get(Tag, tag.id).description == ""
        assert [link.url for link in session.get(type(offer), offer.id).links] == ["https://gifts.example.com/c"]
