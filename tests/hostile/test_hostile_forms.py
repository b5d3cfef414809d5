"""Form posts with hostile values: never a 500; a refusal writes nothing and says why in Russian (#12 item 8)."""

from __future__ import annotations

import pytest
from hostile import assert_refused_cleanly, footprint

BIG = "я" * 30_000
HUGE = "9" * 30
CASES = [
    ("/contacts/new", {"first_name": BIG, "email": "a@example.com"}),
    ("/contacts/new", {"first_name": "Олег", "next_contact_on": "9999-99-99", "consent_at": "0001-01-01"}),
    ("/contacts/new", {"first_name": "Олег", "tags": HUGE}),
    ("/contacts/new", {"first_name": "Олег", "owner_id": HUGE}),
    ("/contacts/{c}/edit", {"first_name": "Олег", "next_contact_on": "99999-01-01"}),
    ("/contacts/{c}/notes", {"body": BIG}),
    ("/contacts/{c}/calls", {"result": "x", "interest": "yes", "next_contact_on": "9999-12-31"}),
    ("/contacts/{c}/calls", {"result": "x", "interest": "yes", "next_contact_on": "1-1-1"}),
    ("/contacts/{c}/transfer", {"new_owner_id": HUGE}),
    ("/contacts/{c}/resubscribe", {"consent_source": BIG}),
    ("/contacts/{c}/unsubscribe", {"reason": BIG}),
    ("/hot/{c}/call", {"result": "x", "interest": "maybe", "next_contact_on": "2026-13-45"}),
    ("/hot/{c}/not-interested", {"reason": BIG}),
    ("/tags/new", {"name": "x", "kind": "industry", "rule": "99999 sun aug", "lead_days": HUGE}),
    ("/tags/new", {"name": "x", "kind": "nope", "rule": BIG, "lead_days": "1"}),
    ("/offers/create", {"tag_id": "abc", "year": "99999999999999"}),
    ("/offers/{o}", {"subject": BIG, "body": BIG, "links-0-name": "a", "links-0-url": "http://[::1", "links-0-weight": HUGE}),
    ("/offers/{o}/live-preview", {"subject": "x", "body": "{{ x", "contact_id": HUGE}),
    ("/offers/{o}/test-send", {"contact_id": HUGE}),
    (
        "/admin/users/new",
        {"email": "x" * 5000 + "@example.com", "name": BIG, "role": "god", "phone": "9" * 500, "password": "p" * 10**5},
    ),
    ("/admin/users/{a}/deactivate", {"heir_id": HUGE}),
    ("/admin/transfer", {"owner": "", "new_owner_id": HUGE, "expected": HUGE}),
    ("/queue/99999999999/retry", {}),
]


@pytest.mark.parametrize(("url", "form"), CASES)
def test_a_hostile_form_is_never_a_500(client, world, url, form):
    client.login(world.admin)
    token = client.csrf_token("/")
    before = footprint()
    response = client.post(
        url.format(c=world.contact_id, o=world.offer_id, a=world.advisor.id), data={"csrf_token": token, **form}
    )
    assert response.status_code < 500, response.get_data(as_text=True)[-1500:]
    if response.status_code >= 400:
        assert_refused_cleanly(response, before, footprint())
