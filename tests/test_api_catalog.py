"""Writing tags, an offer's links and its catalog through the API, reply counts in its results, and
the key page's POST-redirect-GET (#19): the same functions and the same Russian messages as the pages."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from campaigns import replies
from campaigns.models import (
    ApiKey,
    Click,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Offer,
    OfferStatus,
    Role,
    Tag,
    TagKind,
    Verdict,
)
from tests.scenes import GOOD_BODY, bearer, make_key, marketing_user, offer_with_links


@pytest.fixture
def keys(client, session, factory):
    users = {
        "advisor": factory.advisor(name="Анна"),
        "marketing": marketing_user(factory),
        "admin": factory.advisor(role=Role.ADMIN, name="Сергей"),
    }
    return {role: bearer(make_key(client, session, user)) for role, user in users.items()}


def _sent(offer, contact, sent: datetime) -> Delivery:
    return Delivery(
        offer=offer, contact=contact, advisor_id=contact.owner_id, status=DeliveryStatus.SENT, send_on=sent.date(), sent_at=sent
    )


def _pdf(size: int = 100) -> bytes:
    return b"%PDF-1.7\n" + b"0" * size + b"\n%%EOF\n"


# ------------------------------------------------------------------ tags


def test_marketing_creates_and_changes_a_tag_as_on_the_tags_page(client, session, keys):
    created = client.post(
        "/api/tags",
        json={"name": "Энергетики", "kind": "holiday", "rule": "22 декабря, за 30 дней", "description": "День энергетика"},
        headers=keys["marketing"],
    )
    assert created.status_code == 201, created.get_json()
    tag = created.get_json()
    assert (tag["rule"], tag["lead_days"], tag["group"]) == ("22 dec", 30, "Праздники")  # the short form is stored
    changed = client.patch(f"/api/tags/{tag['id']}", json={"rule": "3-е воскресенье июня"}, headers=keys["admin"])
    assert changed.status_code == 200 and changed.get_json()["rule"] == "3 sun jun"
    assert changed.get_json()["name"] == "Энергетики" and changed.get_json()["lead_days"] == 30  # the rest kept
    session.expire_all()
    stored = session.scalar(select(Tag).where(Tag.name == "Энергетики"))
    assert (stored.kind, stored.rule, stored.description) == (TagKind.HOLIDAY, "3 sun jun", "День энергетика")


def test_a_tag_is_refused_with_the_tags_pages_own_messages(client, session, factory, keys):
    factory.tag("Строители")
    session.commit()
    clash = client.post("/api/tags", json={"name": "строители", "kind": "industry", "rule": "1 jan"}, headers=keys["marketing"])
    assert clash.status_code == 400 and clash.mimetype == "application/problem+json"
    assert clash.get_json()["errors"]["name"] == "Тег с таким названием уже есть."
    bad = client.post(
        "/api/tags",
        json={"name": "Новый", "kind": "industry", "rule": "тридцатое февраля", "lead_days": 500},
        headers=keys["marketing"],
    )
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"rule", "lead_days"}
    assert bad.get_json()["errors"]["lead_days"] == "Укажите целое число дней от 0 до 120."
    # The page says the same about the same input: one function decides both.
    client.login(marketing_user_of(session))
    page = client.post_form("/tags/new", {"name": "Строители", "kind": "industry", "rule": "1 jan", "lead_days": "21"})
    assert "Тег с таким названием уже есть." in page.get_data(as_text=True)
    page = client.post_form("/tags/new", {"name": "Новый", "kind": "industry", "rule": "тридцатое февраля"})
    assert escape(bad.get_json()["errors"]["rule"]) in page.get_data(as_text=True)
    assert session.scalar(select(func.count(Tag.id))) == 1


def test_a_name_a_colleague_saved_a_moment_earlier_is_refused_not_a_500(client, session, factory, keys, monkeypatch):
    from campaigns import tags

    factory.tag("Строители")
    session.commit()
    # The colleague's tag was committed after this request's check: only the unique index sees it.
    monkeypatch.setattr(tags, "name_problem", lambda *args: None)
    clash = client.post("/api/tags", json={"name": "Строители", "kind": "industry", "rule": "1 jan"}, headers=keys["marketing"])
    assert clash.status_code == 400, clash.get_data(as_text=True)
    assert clash.get_json()["errors"]["name"] == "Тег с таким названием уже есть."
    client.login(marketing_user_of(session))
    page = client.post_form("/tags/new", {"name": "Строители", "kind": "industry", "rule": "1 jan", "lead_days": "21"})
    assert page.status_code == 200 and "Тег с таким названием уже есть." in page.get_data(as_text=True)
    assert session.scalar(select(func.count(Tag.id))) == 1


def test_an_advisor_reads_tags_but_writes_none(client, session, factory, keys):
    tag = factory.tag("Медики")
    session.commit()
    assert [t["name"] for t in client.get("/api/tags", headers=keys["advisor"]).get_json()["items"]] == ["Медики"]
    new = {"name": "Свой", "kind": "industry", "rule": "1 mar"}
    assert client.post("/api/tags", json=new, headers=keys["advisor"]).status_code == 403
    assert client.patch(f"/api/tags/{tag.id}", json={"name": "Врачи"}, headers=keys["advisor"]).status_code == 403
    assert client.patch("/api/tags/999999", json={"name": "Врачи"}, headers=keys["marketing"]).status_code == 404
    unknown = client.patch(f"/api/tags/{tag.id}", json={"colour": "red"}, headers=keys["marketing"])
    assert unknown.status_code == 400 and "colour" in unknown.get_json()["errors"]
    session.expire_all()
    assert session.scalar(select(func.count(Tag.id))) == 1 and session.get(Tag, tag.id).name == "Медики"


# ------------------------------------------------------------------ links and the catalog


def test_marketing_replaces_an_offers_links_as_in_the_editor(client, session, factory, keys):
    offer = offer_with_links(factory)
    session.commit()
    listed = client.get(f"/api/offers/{offer.id}/links", headers=keys["advisor"]).get_json()["items"]
    assert [(link["name"], link["editable"]) for link in listed] == [("catalog", True), ("discount", True)]
    keep = next(link for link in listed if link["name"] == "catalog")
    body = {
        "links": [
            {"id": keep["id"], "name": "catalog", "url": "https://gifts.example.com/new-catalog", "label": "Каталог"},
            {"name": "discount", "url": "https://gifts.example.com/sale", "label": "Скидка", "weight": 3},
        ]
    }
    assert client.put(f"/api/offers/{offer.id}/links", json=body, headers=keys["advisor"]).status_code == 403
    saved = client.put(f"/api/offers/{offer.id}/links", json=body, headers=keys["marketing"])
    assert saved.status_code == 200, saved.get_json()
    links = {link["name"]: link for link in saved.get_json()["links"]}
    assert links["catalog"]["id"] == keep["id"] and links["catalog"]["url"].endswith("/new-catalog")
    assert links["discount"]["weight"] == 3 and saved.get_json()["problems"] == []


def test_links_are_refused_with_the_editors_messages_and_nothing_changes(client, session, factory, keys):
    offer = offer_with_links(factory)
    session.commit()
    body = {
        "links": [
            {"name": "catalog", "url": "https://gifts.example.com/c"},
            {"name": "catalog", "url": "htp:/broken"},
            {"name": "Скидка", "url": "https://gifts.example.com/s", "weight": 500},
        ]
    }
    refused = client.put(f"/api/offers/{offer.id}/links", json=body, headers=keys["marketing"])
    assert refused.status_code == 400
    errors = refused.get_json()["errors"]
    assert errors["links[1].name"] == "Две ссылки с одним именем."
    assert errors["links[1].url"] == "Адрес должен начинаться с http:// или https://."
    assert errors["links[2].name"].startswith("Латинские строчные буквы") and errors["links[2].weight"].startswith("Вес")
    # The editor says the same about the same rows.
    client.login(marketing_user_of(session))
    for rows, message in (
        (body["links"][:2], escape("Адрес должен начинаться с http:// или https://.")),
        ([body["links"][0], body["links"][0]], "Две ссылки с одним именем."),
        (body["links"][2:], escape(errors["links[2].weight"])),
    ):
        form = {"subject": offer.subject, "body": offer.body}
        for i, row in enumerate(rows):
            form |= {f"links-{i}-name": row["name"], f"links-{i}-url": row["url"], f"links-{i}-weight": str(row.get("weight", 1))}
        answer = client.post_form(f"/offers/{offer.id}", form)
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), message
    session.expire_all()
    assert sorted(link.url for link in session.get(Offer, offer.id).links) == [
        "https://gifts.example.com/catalog",
        "https://gifts.example.com/скидка?code=A",
    ]


def test_a_clicked_link_stays_and_a_ready_offer_broken_by_its_links_goes_back_to_draft(client, session, factory, keys):
    offer = offer_with_links(factory, status=OfferStatus.READY)
    discount = next(link for link in offer.links if link.name == "discount")
    contact = factory.contact()
    sent = datetime.now(UTC) - timedelta(days=1)
    delivery = Delivery(
        offer=offer, contact=contact, advisor_id=contact.owner_id, status=DeliveryStatus.SENT, send_on=sent.date(), sent_at=sent
    )
    session.add(delivery)
    session.flush()
    session.add(Click(delivery=delivery, link=discount, contact=contact, clicked_at=sent, verdict=Verdict.HUMAN, reason="тест"))
    session.commit()
    only_catalog = {"links": [{"name": "catalog", "url": "https://gifts.example.com/catalog"}]}
    kept = client.put(f"/api/offers/{offer.id}/links", json=only_catalog, headers=keys["marketing"])
    assert kept.status_code == 400
    assert kept.get_json()["errors"]["links"] == "Ссылку «discount» нельзя удалить: по ней уже переходили клиенты."
    renamed = {
        "links": [
            {"name": "catalog", "url": "https://gifts.example.com/catalog"},
            {"id": discount.id, "name": "sale", "url": "https://gifts.example.com/sale"},
        ]
    }
    answer = client.put(f"/api/offers/{offer.id}/links", json=renamed, headers=keys["marketing"])
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "draft" and answer.get_json()["problems"]  # {{ links.discount }} is gone
    session.expire_all()
    assert session.get(Offer, offer.id).status == OfferStatus.DRAFT


def test_marketing_uploads_a_catalog_through_the_api(client, session, factory, keys, settings):
    offer = offer_with_links(factory, links=[], body=GOOD_BODY.replace("{{ links.catalog }}", "{{ catalog }}"))
    session.commit()
    path = f"/api/offers/{offer.id}/catalog"
    upload = {"file": (io.BytesIO(_pdf()), "Каталог 2027.pdf")}
    assert client.post(path, data=upload, headers=keys["advisor"], content_type="multipart/form-data").status_code == 403
    wrong = {"file": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "catalog.pdf")}
    refused = client.post(path, data=wrong, headers=keys["marketing"], content_type="multipart/form-data")
    assert refused.status_code == 400 and "file" in refused.get_json()["errors"]
    upload = {"file": (io.BytesIO(_pdf()), "Каталог 2027.pdf")}
    done = client.post(path, data=upload, headers=keys["marketing"], content_type="multipart/form-data")
    assert done.status_code == 200, done.get_json()
    catalog = next(link for link in done.get_json()["links"] if link["name"] == "catalog")
    assert catalog["editable"] is False and catalog["url"].startswith(f"{settings.public_url}/files/catalog/{offer.id}/")


# ------------------------------------------------------------------ results


def test_the_results_carry_the_pages_reply_counts(client, session, factory, keys):
    offer = offer_with_links(factory, status=OfferStatus.READY)
    contacts = [factory.contact(), factory.contact(), factory.contact()]
    sent = datetime(offer.year, 3, 2, 9, 0, tzinfo=UTC)
    deliveries = []
    for contact in contacts:
        delivery = Delivery(
            offer=offer,
            contact=contact,
            advisor_id=contact.owner_id,
            status=DeliveryStatus.SENT,
            send_on=sent.date(),
            sent_at=sent,
        )
        session.add(delivery)
        deliveries.append(delivery)
    session.flush()
    for n, (delivery, kind) in enumerate(zip(deliveries, (replies.REPLY, replies.REPLY, replies.AUTOREPLY), strict=True)):
        session.add(InboundMessage(mailbox="advisor:1", message_key=f"<{n}@client>", kind=kind, delivery_id=delivery.id))
    session.commit()
    results = client.get(f"/api/results?year={offer.year}", headers=keys["marketing"]).get_json()
    row = next(r for r in results["offers"] if r["key"] == offer.id)
    assert row["replies"] == 2 == replies.reply_counts(session, "offer", offer.year)[offer.id]  # the auto-reply is not one
    assert [r["replies"] for r in results["tags"] if r["key"] == offer.tag_id] == [2]
    client.login(marketing_user_of(session))
    page = client.get(f"/results/?year={offer.year}").get_data(as_text=True)
    assert 'data-label="Ответили">2<' in page


def marketing_user_of(session):
    return session.scalar(select(ApiKey).where(ApiKey.user.has(role=Role.MARKETING))).user


# ------------------------------------------------------------------ the key page


def test_a_new_key_is_shown_once_and_a_reload_makes_no_second_one(client, session, factory):
    anna = factory.advisor()
    session.commit()
    client.login(anna)
    made = client.post_form("/keys/", {"name": "Телефония"})
    assert made.status_code == 303 and made.headers["Location"].endswith("/keys/")
    first = client.get("/keys/")
    assert first.headers["Cache-Control"] == "no-store"
    assert 'id="new-api-key">ck_' in first.get_data(as_text=True)
    again = client.get("/keys/")  # the reload after the redirect: the page again, without the key
    assert 'id="new-api-key"' not in again.get_data(as_text=True) and "Телефония" in again.get_data(as_text=True)
    assert session.scalar(select(func.count(ApiKey.id))) == 1
