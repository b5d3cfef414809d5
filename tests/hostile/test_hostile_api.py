"""JSON bodies of the wrong shape: a 400 naming the field in Russian, nothing saved (#12 items 8, 9)."""

from __future__ import annotations

import pytest
from hostile import CYRILLIC, assert_refused_cleanly, footprint

from campaigns.models import Contact

HUGE = 10**30
CREATE = [
    ({"first_name": ["Олег", "Иван"]}, "first_name"),
    ({"first_name": 5}, "first_name"),
    ({"first_name": "Олег", "tags": [{}]}, "tags"),
    ({"first_name": "Олег", "tags": "Строители"}, "tags"),
    ({"first_name": "Олег", "tags": [True]}, "tags"),
    ({"first_name": "Олег", "tags": [None]}, "tags"),
    ({"first_name": "Олег", "email": {"$ne": ""}}, "email"),
    ({"first_name": "Олег", "confirm_different": "yes"}, "confirm_different"),
    ({"first_name": "Олег", "next_contact_on": 20270101}, "next_contact_on"),
    ({"first_name": "Олег", "owner_id": HUGE}, "owner"),
    ({"first_name": "Олег", "owner_id": "1"}, "owner_id"),
    ({"first_name": "Олег", "id": 1}, "id"),
]


def _refused(client, user, method: str, url: str, body: dict, field: str):
    """Send ``body`` as ``user``: a 400 naming ``field`` in Russian, and nothing written."""
    client.login(user)
    headers = {"X-CSRFToken": client.csrf_token("/")}
    before = footprint()
    response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == 400
    assert field in response.json["errors"] and CYRILLIC.search(response.json["errors"][field])
    assert_refused_cleanly(response, before, footprint())


@pytest.mark.parametrize(("body", "field"), CREATE)
def test_a_new_contact_of_the_wrong_shape_is_refused(client, world, body, field):
    _refused(client, world.admin, "POST", "/api/contacts", body, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": ["Олег"]}, "first_name"),
        ({"tags": [{}]}, "tags"),
        ({"tags": "Строители"}, "tags"),
        ({"owner_id": 1}, "owner_id"),
    ],
)
def test_a_change_of_the_wrong_shape_leaves_the_contact_as_it_was(client, world, session, body, field):
    _refused(client, world.advisor, "PATCH", f"/api/contacts/{world.contact_id}", body, field)
    session.expire_all()
    contact = session.get(Contact, world.contact_id)
    assert contact.first_name == "Олег" and [t.name for t in contact.tags] == ["Строители"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": 123}, "body"),
        ({"body": ["x"]}, "body"),
        ({"kind": "delete", "body": "x"}, "kind"),
        ({"kind": "call", "result": {"a": 1}, "interest": True, "next_contact_on": "2099-01-01"}, "result"),
        ({"kind": "call", "result": "Говорили", "interest": [], "next_contact_on": "2099-01-01"}, "interest"),
    ],
)
def test_a_note_of_the_wrong_shape_is_refused(client, world, body, field):
    _refused(client, world.advisor, "POST", f"/api/contacts/{world.contact_id}/notes", body, field)


def test_right_shapes_still_work(client, world, session):
    client.login(world.advisor)
    headers = {"X-CSRFToken": client.csrf_token("/")}
    created = client.post(
        "/api/contacts",
        json={"first_name": "Иван", "email": "ivan@example.com", "tags": ["Строители", world.tag_id], "next_contact_on": None},
        headers=headers,
    )
    assert created.status_code == 201 and created.json["tags"] == ["Строители"]
    changed = client.patch(f"/api/contacts/{world.contact_id}", json={"tags": []}, headers=headers)
    assert changed.status_code == 200 and changed.json["tags"] == []
    noted = client.post(f"/api/contacts/{world.contact_id}/notes", json={"body": "Перезвонить"}, headers=headers)
    assert noted.status_code == 201
