"""The contacts list pages by (updated_at, id) cursors, not OFFSET, and counts only so far (#15)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from campaigns import contacts

SAME = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _crowd(session, factory, advisor, n):
    people = [factory.contact(owner=advisor, last_name=f"Петров{i:03d}") for i in range(n)]
    for i, person in enumerate(people):  # many share one moment: the id breaks the tie
        person.updated_at = SAME if i % 3 else datetime(2026, 4, 1, 9, 0, i, tzinfo=UTC)
    session.flush()
    return people


def test_cursors_walk_every_contact_once_forward_and_back(session, factory):
    advisor = factory.advisor()
    people = _crowd(session, factory, advisor, 23)
    seen, after, pages = [], None, []
    while True:
        page = contacts.contact_list(session, advisor, per_page=5, after=after)
        pages.append(page)
        seen += [c.id for c in page.items]
        if not page.next_after:
            break
        after = page.next_after
    assert sorted(seen) == sorted(p.id for p in people) and len(seen) == len(set(seen)) == 23
    assert len(pages) == 5 and pages[0].prev_before is None
    back = contacts.contact_list(session, advisor, per_page=5, before=pages[3].prev_before)
    assert [c.id for c in back.items] == [c.id for c in pages[2].items]
    first = contacts.contact_list(session, advisor, per_page=5, before=pages[1].prev_before)
    assert [c.id for c in first.items] == [c.id for c in pages[0].items] and first.prev_before is None


def test_the_count_stops_at_the_limit(session, factory, monkeypatch):
    advisor = factory.advisor()
    _crowd(session, factory, advisor, 7)
    monkeypatch.setattr(contacts, "COUNT_LIMIT", 5)
    page = contacts.contact_list(session, advisor, per_page=3)
    assert (page.total, page.total_more) == (5, True)


def test_the_list_page_links_to_the_next_page_by_cursor(client, session, factory, monkeypatch):
    advisor = factory.advisor()
    people = _crowd(session, factory, advisor, 60)
    session.commit()
    client.login(advisor)
    html = client.raw.get("/contacts/").get_data(as_text=True)
    assert "страница 1 из 2" in html
    link = re.search(r'href="(/contacts/\?[^"]*after=[^"]+)"', html).group(1).replace("&amp;", "&")
    second = client.raw.get(link).get_data(as_text=True)
    shown = {int(i) for i in re.findall(r'href="/contacts/(\d+)"', html)}
    rest = {int(i) for i in re.findall(r'href="/contacts/(\d+)"', second)}
    assert len(shown) == 50 and len(rest) == 10 and shown | rest == {p.id for p in people}
    assert "страница 2" in second and "дальше" not in second and "назад" in second
    body = client.raw.get("/api/contacts").get_json()
    rest = client.raw.get("/api/contacts", query_string={"cursor": body["next_cursor"]}).get_json()
    assert len(rest["items"]) == 10 and rest["page"] == 2 and rest["next_cursor"] is None
    assert {c["id"] for c in body["items"] + rest["items"]} == {p.id for p in people}
