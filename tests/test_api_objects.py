"""Every object through the API (#19), asked with API keys: the same rules as the pages."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.models import (
    Click,
    Contact,
    Delivery,
    DeliveryStatus,
    Link,
    Note,
    Offer,
    OfferStatus,
    Role,
    Suppression,
    SuppressionReason,
    Verdict,
)
from tests.scenes import bearer, make_key


@pytest.fixture
def world(client, session, factory):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    marketing = factory.advisor(role=Role.MARKETING)
    admin = factory.advisor(role=Role.ADMIN)
    tag = factory.tag("Медики")
    offer = factory.offer(tag=tag, year=date.today().year)
    link = Link(offer=offer, name="catalog", url="https://shop.example.com/catalog", label="Каталог")
    session.add(link)
    mine = factory.contact(owner=anna, tags=[tag])
    theirs = factory.contact(owner=igor, tags=[tag], email="secret@client.ru")
    sent = datetime.now(UTC) - timedelta(days=1)
    deliveries = {}
    for contact in (mine, theirs):
        d = Delivery(
            offer=offer,
            contact=contact,
            advisor_id=contact.owner_id,
            status=DeliveryStatus.SENT,
            send_on=sent.date(),
            sent_at=sent,
        )
        session.add(d)
        session.flush()
        deliveries[contact.id] = d
        for verdict in (Verdict.HUMAN, Verdict.BOT):
            session.add(
                Click(
                    delivery=d, link=link, contact=contact, clicked_at=sent + timedelta(hours=2), verdict=verdict, reason="тест"
                )
            )
    session.commit()
    keys = {
        name: bearer(make_key(client, session, user))
        for name, user in (("anna", anna), ("igor", igor), ("marketing", marketing), ("admin", admin))
    }
    return {"keys": keys, "mine": mine, "theirs": theirs, "offer": offer, "tag": tag, "deliveries": deliveries, "anna": anna}


def test_tags_and_offers_are_read_by_everyone_and_written_by_marketing(client, session, world):
    keys, offer = world["keys"], world["offer"]
    tags = client.get("/api/tags", headers=keys["anna"]).get_json()["items"]
    assert [t["name"] for t in tags] == ["Медики"]
    listed = client.get("/api/offers", headers=keys["anna"]).get_json()["items"]
    assert [o["id"] for o in listed] == [offer.id] and listed[0]["links"][0]["url"].startswith("https://shop")
    assert client.patch(f"/api/offers/{offer.id}", json={"subject": "x"}, headers=keys["anna"]).status_code == 403
    changed = client.patch(f"/api/offers/{offer.id}", json={"subject": "Новая тема"}, headers=keys["marketing"])
    assert changed.status_code == 200 and changed.get_json()["subject"] == "Новая тема"
    bad = client.patch(f"/api/offers/{offer.id}", json={"body": "{{ unknown_variable }}"}, headers=keys["marketing"])
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    session.expire_all()
    assert session.get(Offer, offer.id).status == OfferStatus.DRAFT  # a ready offer with problems goes back to draft
    created = client.post("/api/offers", json={"tag_id": world["tag"].id, "year": offer.year + 1}, headers=keys["marketing"])
    assert created.status_code == 201 and created.get_json()["status"] == "draft"
    assert created.get_json()["subject"] == "Новая тема"  # a copy of the latest offer
    assert client.post("/api/offers", json={"tag_id": world["tag"].id, "year": 2030}, headers=keys["igor"]).status_code == 403


def test_deliveries_and_human_clicks_only_of_visible_contacts(client, world):
    keys, mine, theirs = world["keys"], world["mine"], world["theirs"]
    own = client.get("/api/deliveries", headers=keys["anna"]).get_json()["items"]
    assert [d["contact_id"] for d in own] == [mine.id] and own[0]["status"] == "sent"
    assert client.get(f"/api/deliveries?contact={theirs.id}", headers=keys["anna"]).get_json()["items"] == []
    assert (
        len(client.get(f"/api/deliveries?offer={world['offer'].id}&status=sent", headers=keys["admin"]).get_json()["items"]) == 2
    )
    assert client.get("/api/deliveries?status=lost", headers=keys["admin"]).status_code == 400
    clicks = client.get("/api/clicks", headers=keys["anna"]).get_json()["items"]
    assert [c["contact_id"] for c in clicks] == [mine.id]  # one: the scanner's click is not there
    assert len(client.get("/api/clicks", headers=keys["marketing"]).get_json()["items"]) == 2


def test_the_hot_list_and_results(client, world):
    keys = world["keys"]
    hot = client.get("/api/hot", headers=keys["anna"]).get_json()["items"]
    assert [e["contact_id"] for e in hot] == [world["mine"].id]
    assert client.get("/api/hot", headers=keys["marketing"]).status_code == 400
    assert [
        e["contact_id"] for e in client.get(f"/api/hot?advisor={world['anna'].id}", headers=keys["marketing"]).get_json()["items"]
    ] == [world["mine"].id]
    assert client.get("/api/results", headers=keys["anna"]).status_code == 403
    results = client.get("/api/results", headers=keys["marketing"]).get_json()
    assert results["offers"][0]["sent"] == 2 and results["offers"][0]["human_clicks"] == 2


def test_unsubscribe_and_the_stop_list(client, session, world):
    keys, mine = world["keys"], world["mine"]
    done = client.post(
        f"/api/contacts/{mine.id}/unsubscribe", json={"how": "по телефону", "reason": "просил"}, headers=keys["anna"]
    )
    assert done.status_code == 200 and done.get_json()["consent"]["mailable"] is False
    assert client.post(f"/api/contacts/{world['theirs'].id}/unsubscribe", json={}, headers=keys["anna"]).status_code == 404
    assert client.get("/api/stoplist", headers=keys["anna"]).status_code == 403
    added = client.post(
        "/api/stoplist", json={"email": "Boss@Firma.ru", "reason": "просил по телефону"}, headers=keys["marketing"]
    )
    assert added.status_code == 201 and added.get_json()["email"] == "boss@firma.ru"
    no_reason = client.post("/api/stoplist", json={"email": "a@b.ru", "reason": " "}, headers=keys["marketing"])
    assert no_reason.status_code == 400 and "reason" in no_reason.get_json()["errors"]
    entry_id = added.get_json()["id"]
    assert client.delete(f"/api/stoplist/{entry_id}", json={"reason": "ошибка"}, headers=keys["marketing"]).status_code == 403
    removed = client.delete(f"/api/stoplist/{entry_id}", json={"reason": "внесли по ошибке"}, headers=keys["admin"])
    assert removed.status_code == 200
    unsubscribed = session.scalar(select(Suppression).where(Suppression.email == mine.email))
    assert unsubscribed.reason == SuppressionReason.MANUAL
    # The advisor's «Отписать» was the person's wish: it stays, only a new consent brings them back.
    kept = client.delete(f"/api/stoplist/{unsubscribed.id}", json={"reason": "хочу"}, headers=keys["admin"])
    assert kept.status_code == 409
    emails = [e["email"] for e in client.get("/api/stoplist", headers=keys["admin"]).get_json()["items"]]
    assert "boss@firma.ru" not in emails


def test_an_unsubscribe_stays_on_the_stop_list(client, session, world):
    session.add(Suppression(email="gone@client.ru", reason=SuppressionReason.UNSUBSCRIBE))
    session.commit()
    entry = session.scalar(select(Suppression).where(Suppression.email == "gone@client.ru"))
    kept = client.delete(f"/api/stoplist/{entry.id}", json={"reason": "хочу"}, headers=world["keys"]["admin"])
    assert kept.status_code == 409 and "согласием" in kept.get_json()["detail"]


def test_an_import_goes_upload_status_commit(client, session, world):
    keys = world["keys"]
    text = "Фамилия;Имя;Компания;E-mail рабочий;Теги\r\nПетров;Олег;Тойота (Toyota);oleg@toyota.ru;\r\n"
    uploaded = client.post(
        "/api/imports",
        data={"file": (io.BytesIO(text.encode()), "contacts.csv")},
        content_type="multipart/form-data",
        headers=keys["anna"],
    )
    assert uploaded.status_code == 202
    import_id = uploaded.get_json()["id"]
    status = client.get(f"/api/imports/{import_id}", headers=keys["anna"]).get_json()
    assert status["status"] == "previewed" and status["counts"]
    assert client.get(f"/api/imports/{import_id}", headers=keys["igor"]).status_code == 404
    committed = client.post(f"/api/imports/{import_id}/commit", json={}, headers=keys["anna"])
    assert committed.status_code == 202
    assert client.get(f"/api/imports/{import_id}", headers=keys["anna"]).get_json()["result"]["created"] == 1
    assert client.post(f"/api/imports/{import_id}/commit", json={}, headers=keys["anna"]).status_code == 409
    session.rollback()
    assert session.scalar(select(func.count(Contact.id)).where(Contact.email == "oleg@toyota.ru")) == 1
    assert session.scalar(select(func.count(Note.id))) >= 0


def test_a_call_with_a_time_and_topic_comes_back_on_the_card(client, session, world):
    keys, mine = world["keys"], world["mine"]
    next_on = (date.today() + timedelta(days=2)).isoformat()
    call = client.post(
        f"/api/contacts/{mine.id}/notes",
        json={
            "kind": "call",
            "result": "Говорили",
            "interest": True,
            "next_contact_on": next_on,
            "next_contact_time": "11:30",
            "topic": "каталог",
        },
        headers=keys["anna"],
    )
    assert call.status_code == 201
    card = client.get(f"/api/contacts/{mine.id}", headers=keys["anna"]).get_json()
    assert (card["next_contact_on"], card["next_contact_time"], card["next_contact_topic"]) == (next_on, "11:30", "каталог")
