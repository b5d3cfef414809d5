"""The contacts list pages by (updated_at, id) cursors, not OFFSET, and counts only so far (#15)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from campaigns import contact_pages, contacts
from campaigns.models import Role

SAME = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _crowd(session, factory, advisor, n):
    people = [factory.contact(owner=advisor, last_name=f"Петров{i:03d}") for i in range(n)]
    for i, person in enumerate(people):  # many share one moment: the id breaks the tie
        person.updated_at = SAME if i % 3 else datetime(2026, 4, 1, 9, i // 60, i % 60, tzinfo=UTC)
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


def test_a_page_by_number_holds_the_rows_the_cursor_walk_finds_there(session, factory):
    advisor, marketing = factory.advisor(), factory.advisor(role=Role.MARKETING)
    _crowd(session, factory, advisor, 23)
    for user in (advisor, marketing):
        after, walked = None, []
        while True:
            page = contacts.contact_list(session, user, per_page=5, after=after)
            walked.append([c.id for c in page.items])
            if not page.next_after:
                break
            after = page.next_after
        numbered = [contacts.contact_list(session, user, per_page=5, page=n) for n in range(1, 7)]
        assert [[c.id for c in p.items] for p in numbered] == [*walked, []]
        assert [p.has_next for p in numbered] == [True, True, True, True, False, False]


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


def _links(html: str, word: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="(/contacts/\?[^"]*)">[^<]*' + word, html)]


def test_a_page_number_goes_as_deep_as_the_count_and_further_on_the_cursor_leads(client, session, factory, monkeypatch):
    advisor = factory.advisor()
    people = _crowd(session, factory, advisor, 130)
    session.commit()
    monkeypatch.setattr(contact_pages, "LAST_NUMBERED_PAGE", 2)
    client.login(advisor)

    last = client.raw.get("/contacts/?page=2")
    assert last.status_code == 200 and len(set(re.findall(r'href="/contacts/(\d+)"', last.get_data(as_text=True)))) == 50
    deeper = client.raw.get("/contacts/?page=3")
    assert deeper.status_code == 400
    said = deeper.get_data(as_text=True)
    assert "Страницу 3 по номеру не открыть" in said and "«дальше →»" in said

    # The list's own «дальше» carries a cursor: it goes past page 2 to the end.
    seen, path = set(), "/contacts/"
    while path:
        html = client.raw.get(path).get_data(as_text=True)
        seen |= {int(i) for i in re.findall(r'href="/contacts/(\d+)"', html)}
        onward = _links(html, "дальше")
        path = onward[0] if onward else ""
    assert "страница 3" in html and seen == {p.id for p in people}

    api = client.raw.get("/api/contacts?page=3")
    assert api.status_code == 400
    assert "Страницу 3 по номеру не открыть" in api.get_json()["errors"]["page"] and "next_cursor" in api.get_json()["detail"]
    body, seen = client.raw.get("/api/contacts?page=2").get_json(), set()
    assert len(body["items"]) == 50 and body["next_cursor"]
    while True:
        seen |= {c["id"] for c in body["items"]}
        if not body["next_cursor"]:
            break
        body = client.raw.get("/api/contacts", query_string={"page": "2", "cursor": body["next_cursor"]}).get_json()
    assert body["page"] == 3 and len(body["items"]) == 30 and len(seen) == 80


def test_todays_calls_go_by_number_and_stop_at_the_last_numbered_page(client, session, factory, monkeypatch):
    advisor = factory.advisor()
    for person in _crowd(session, factory, advisor, 130):
        person.next_contact_on = date(2026, 1, 5)
    session.commit()
    monkeypatch.setattr(contact_pages, "LAST_NUMBERED_PAGE", 2)
    client.login(advisor)

    first = client.raw.get("/contacts/?today=1").get_data(as_text=True)
    second = client.raw.get(_links(first, "дальше")[0]).get_data(as_text=True)
    assert "страница 2" in second and not _links(second, "дальше") and "сузьте его фильтром" in second
    assert client.raw.get("/contacts/?today=1&page=3").status_code == 400

    body = client.raw.get("/api/contacts?today=1").get_json()
    second = client.raw.get("/api/contacts", query_string={"today": "1", "cursor": body["next_cursor"]}).get_json()
    assert second["page"] == 2 and len(second["items"]) == 50 and second["next_cursor"] is None
    assert not {c["id"] for c in body["items"]} & {c["id"] for c in second["items"]}
    assert client.raw.get("/api/contacts?today=1&page=3").status_code == 400
