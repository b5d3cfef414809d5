"""Huge or malformed query parameters: a 400 with a Russian message, never a 500 (#12 item 8)."""

from __future__ import annotations

import pytest
from hostile import assert_refused_cleanly, footprint

from campaigns.models import Role

HUGE = "9" * 20
CASES = [
    (Role.ADVISOR, "/contacts/?not_worked=1&days=1000000000000"),
    (Role.ADVISOR, "/contacts/?days=-5"),
    (Role.ADVISOR, f"/contacts/?page={HUGE}"),
    (Role.ADVISOR, "/contacts/?page=abc"),
    (Role.ADVISOR, f"/contacts/?tag={HUGE}"),
    (Role.ADMIN, f"/contacts/?owner={HUGE}"),
    (Role.MARKETING, "/board?from=9999-12-31"),
    (Role.MARKETING, "/board?from=0001-01-01"),
    (Role.MARKETING, "/board?from=вчера"),
    (Role.ADMIN, "/queue?plan=9999-12-31"),
    (Role.ADMIN, "/queue?plan=0001-01-01"),
    (Role.ADVISOR, f"/calendar?year={HUGE}"),
    (Role.MARKETING, "/offers?year=99999"),
    (Role.MARKETING, "/offers?year=-5"),
    (Role.MARKETING, "/results/?year=99999"),
    (Role.ADMIN, "/admin/transfer?days=1000000000000"),
    (Role.ADMIN, f"/admin/transfer?owner={HUGE}"),
    (Role.ADMIN, f"/admin/transfer?tag={HUGE}"),
    (Role.ADVISOR, "/api/contacts?not_worked_days=1000000000000"),
    (Role.ADVISOR, f"/api/contacts?page={HUGE}"),
    (Role.ADMIN, f"/api/contacts?owner={HUGE}"),
    (Role.ADVISOR, "/api/contacts?page=-3"),
    (Role.MARKETING, "/offers/{offer}/preview?contact_id=" + HUGE),
]


@pytest.mark.parametrize(("role", "url"), CASES)
def test_a_bad_parameter_is_a_400_in_russian(app, client, world, role, url):
    client.login(world.user(role))
    before = footprint()
    response = client.get(url.format(offer=world.offer_id))
    assert response.status_code == 400
    assert_refused_cleanly(response, before, footprint())


def test_the_api_names_the_bad_parameter(client, world):
    client.login(world.advisor)
    response = client.get("/api/contacts?not_worked_days=1000000000000")
    assert response.status_code == 400
    assert "Число дней" in response.json["errors"]["not_worked_days"]


@pytest.mark.parametrize("url", [f"/contacts/{HUGE}", f"/offers/{HUGE}", f"/api/contacts/{HUGE}", f"/tags/{HUGE}"])
def test_an_id_beyond_any_record_is_not_found(app, client, world, url):
    client.login(world.admin)
    response = client.get(url)
    assert response.status_code == 404


def test_good_parameters_still_work(client, world):
    client.login(world.admin)
    assert client.get("/contacts/?not_worked=1&days=3650&page=1").status_code == 200
    assert client.get("/board?from=2027-07-01").status_code == 200
    assert client.get("/admin/transfer?days=30&owner=&tag=").status_code == 200
    assert client.get("/api/contacts?not_worked_days=30&page=2").status_code == 200


def test_a_nul_character_anywhere_is_refused_at_the_door(app, client, world):
    # PostgreSQL cannot store a NUL: without the check these were 500s there.
    client.login(world.admin)
    headers = {"X-CSRFToken": client.csrf_token("/")}
    before = footprint()
    for response in (
        client.get("/contacts/?q=%00"),
        client.get("/api/contacts?q=a%00b"),
        client.post("/api/contacts", json={"first_name": "a\u0000b"}, headers=headers),
        client.post_form("/contacts/new", {"first_name": "a\x00b", "email": "nul@example.com"}),
    ):
        assert response.status_code == 400
        assert_refused_cleanly(response, before, footprint())


def test_json_nested_past_the_recursion_limit_is_a_400(app, client, world):
    client.login(world.admin)
    headers = {"X-CSRFToken": client.csrf_token("/"), "Content-Type": "application/json"}
    before = footprint()
    response = client.post("/api/contacts", data="[" * 100_000 + "]" * 100_000, headers=headers)
    assert response.status_code == 400 and "вложен" in response.json["errors"]["body"]
    assert_refused_cleanly(response, before, footprint())
