"""API keys (#19): made on the user's page and shown once, stored hashed, named, revocable, with a
last-used time; a key acts with its user's role; no CSRF for a key; a rate limit per key;
errors as RFC 9457 problem documents; cursors that cannot be forged."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from campaigns.models import ApiKey, Contact, Role
from tests.scenes import bearer, make_key


def test_a_key_is_shown_once_and_stored_only_as_its_hash(client, session, factory):
    anna = factory.advisor()
    token = make_key(client, session, anna, "Телефония")
    stored = session.scalar(select(ApiKey))
    assert stored.name == "Телефония" and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.prefix, stored.token_hash} and token.startswith(stored.prefix)
    client.login(anna)
    page = client.get("/keys/").get_data(as_text=True)
    assert "Телефония" in page and stored.prefix in page and token not in page


def test_a_key_works_without_a_cookie_or_csrf_and_records_its_last_use(app, session, factory):
    anna = factory.advisor()
    own = factory.contact(owner=anna)
    with app.test_client() as browser:
        from tests.support import Client

        token = make_key(Client(browser), session, anna)
    with app.test_client() as script:  # no cookie at all
        listed = script.get("/api/contacts", headers=bearer(token))
        assert listed.status_code == 200 and [c["id"] for c in listed.get_json()["items"]] == [own.id]
        patched = script.patch(f"/api/contacts/{own.id}", json={"position": "Директор"}, headers=bearer(token))
        assert patched.status_code == 200 and "Set-Cookie" not in patched.headers
    session.expire_all()
    assert session.get(Contact, own.id).position == "Директор"
    assert session.scalar(select(ApiKey)).last_used_at is not None


def test_a_revoked_key_and_a_deactivated_users_key_are_dead(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    token_a = make_key(client, session, anna)
    token_i = make_key(client, session, igor)
    client.login(anna)
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.user_id == anna.id))
    assert client.post_form(f"/keys/{key_id}/revoke").status_code == 302
    client.post_form("/logout")
    igor.active = False
    session.commit()
    for token in (token_a, token_i, token_a + "x", "ck_guess"):
        response = client.get("/api/contacts", headers=bearer(token))
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
        assert "Ключ API не подходит" in response.get_json()["detail"]


def test_a_user_cannot_revoke_somebody_elses_key(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    make_key(client, session, anna)
    key_id = session.scalar(select(ApiKey.id))
    client.login(igor)
    assert client.post_form(f"/keys/{key_id}/revoke").status_code == 404
    session.expire_all()
    assert session.get(ApiKey, key_id).revoked_at is None


def test_the_cookie_path_still_needs_csrf(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    session.commit()
    client.login(anna)
    refused = client.patch(f"/api/contacts/{contact.id}", json={"position": "x"})
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    assert "CSRF" in refused.get_json()["detail"]


def test_the_rate_limit_answers_429_with_retry_after(app, client, session, factory, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_PER_MINUTE", 3)
    from campaigns import apikeys

    monkeypatch.setattr(apikeys, "_clock", lambda: 1_800_000_030.0)  # half a minute into a minute, on any machine
    token = make_key(client, session, factory.advisor())
    statuses = [client.get("/api/contacts", headers=bearer(token)).status_code for _ in range(3)]
    limited = client.get("/api/contacts", headers=bearer(token))
    assert statuses == [200, 200, 200] and limited.status_code == 429
    assert limited.headers["Retry-After"] == "30"
    assert limited.mimetype == "application/problem+json" and "Повторите через" in limited.get_json()["detail"]
    # Another key of another user is not slowed by it.
    other = make_key(client, session, factory.advisor())
    assert client.get("/api/contacts", headers=bearer(other)).status_code == 200


def test_errors_are_problem_documents_in_russian(client, session, factory):
    token = make_key(client, session, factory.advisor())
    cases = {
        client.get("/api/contacts/999999", headers=bearer(token)): 404,
        client.post("/api/contacts", json={"email": "x@"}, headers=bearer(token)): 400,
        client.get("/api/contacts"): 401,
        client.get("/api/no-such-thing", headers=bearer(token)): 404,
    }
    for response, status in cases.items():
        assert response.status_code == status and response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == status and re.search("[А-Яа-я]", problem["detail"]) and problem["title"]


def test_marketing_key_reads_but_cannot_write_contacts(client, session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    token = make_key(client, session, factory.advisor(role=Role.MARKETING))
    assert client.get(f"/api/contacts/{contact.id}", headers=bearer(token)).status_code == 200
    assert client.patch(f"/api/contacts/{contact.id}", json={"position": "x"}, headers=bearer(token)).status_code == 403


def test_the_cursor_walks_the_list_and_a_forged_one_is_400(client, session, factory):
    anna = factory.advisor()
    for _ in range(55):
        factory.contact(owner=anna)
    token = make_key(client, session, anna)
    first = client.get("/api/contacts", headers=bearer(token)).get_json()
    second = client.get(f"/api/contacts?cursor={first['next_cursor']}", headers=bearer(token)).get_json()
    assert len(first["items"]) == 50 and len(second["items"]) == 5 and second["next_cursor"] is None
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}
    forged = client.get(f"/api/contacts?cursor={first['next_cursor'][:-2]}xx", headers=bearer(token))
    assert forged.status_code == 400 and "cursor" in forged.get_json()["errors"]
    foreign = client.get(f"/api/contacts?search=Олег&cursor={first['next_cursor']}", headers=bearer(token))
    assert foreign.status_code == 400
    # Notes: keyset pages, newest first.
    contact = session.scalar(select(Contact))
    for n in range(3):
        client.post(f"/api/contacts/{contact.id}/notes", json={"body": f"заметка {n}"}, headers=bearer(token))
    page1 = client.get(f"/api/contacts/{contact.id}/notes?limit=2", headers=bearer(token)).get_json()
    page2 = client.get(
        f"/api/contacts/{contact.id}/notes?limit=2&cursor={page1['next_cursor']}", headers=bearer(token)
    ).get_json()
    assert [n["body"] for n in page1["items"] + page2["items"]] == ["заметка 2", "заметка 1", "заметка 0"]


def test_deactivation_revokes_the_keys_for_good(client, session, factory):
    from campaigns import accounts, ownership

    admin, anna = factory.advisor(role=Role.ADMIN), factory.advisor()
    token = make_key(client, session, anna)
    assert client.get("/api/contacts", headers=bearer(token)).status_code == 200
    ownership.deactivate_advisor(session, admin, anna, None, "уволилась")
    session.commit()
    assert client.get("/api/contacts", headers=bearer(token)).status_code == 401
    accounts.reactivate(session, admin, session.get(type(anna), anna.id))
    session.commit()
    assert client.get("/api/contacts", headers=bearer(token)).status_code == 401  # back at work: new keys
    assert session.scalar(select(ApiKey)).revoked_at is not None
