"""38-FZ consent and 152-FZ erasure (#17): under REQUIRE_CONSENT (on by default) a contact
without a recorded consent is not mailed by any path; the board counts them; resubscribing needs
a new consent; an erased person's address stays on the stop list only as a hash, and every path
still refuses it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from campaigns import audience, consent, privacy
from campaigns.board import readiness_board
from campaigns.config import ConfigError, load_settings
from campaigns.db import address_hash, keyed_address_hash
from campaigns.models import Click, Contact, Delivery, DeliveryStatus, Note, Role, Suppression, Verdict
from tests.scenes import AUDIENCE_DAY, AUDIENCE_PATHS, audience_offer, audience_scene, audience_sent, write_csv


@pytest.fixture
def consent_off(app):
    """REQUIRE_CONSENT=0 for this test only: the point of the test is the setting itself."""
    saved = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(saved, require_consent=False)
    yield
    app.config["SETTINGS"] = saved


@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
def test_no_path_mails_a_contact_without_recorded_consent(session, factory, settings, path):
    assert settings.require_consent  # the default
    tag, offer, contact = audience_scene(factory, session, {"consent_at": None})
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is False


@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
def test_with_require_consent_off_they_are_mailed(session, factory, settings, path, consent_off):
    tag, offer, contact = audience_scene(factory, session, {"consent_at": None})
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is True


def test_the_refusal_says_there_is_no_consent(session, factory, settings):
    tag, offer, contact = audience_scene(factory, session, {"consent_at": None})
    assert not audience_sent(session, settings, tag, offer, contact)
    cancelled = session.scalar(select(Delivery).where(Delivery.contact_id == contact.id))
    assert cancelled.status == DeliveryStatus.CANCELLED and "нет записанного согласия" in cancelled.last_error


def test_the_setting_is_read_from_the_environment():
    assert load_settings({"REQUIRE_CONSENT": "0", "INSTANCE_PATH": "/tmp/campaigns-consent-env"}).require_consent is False
    assert load_settings({"INSTANCE_PATH": "/tmp/campaigns-consent-env"}).require_consent is True
    with pytest.raises(ConfigError, match="REQUIRE_CONSENT"):
        load_settings({"REQUIRE_CONSENT": "maybe", "INSTANCE_PATH": "/tmp/campaigns-consent-env"})


def test_the_board_shows_how_many_of_a_tags_audience_lack_consent(client, session, factory, settings):
    tag, offer, contact = audience_scene(factory, session, {})
    factory.contact(owner=contact.owner, tags=[tag], consent_at=None)
    factory.contact(owner=contact.owner, tags=[tag], consent_at=None)
    factory.contact(owner=contact.owner, tags=[tag], consent_at=None, unsubscribed_at=contact.created_at)  # gone anyway
    row = next(r for r in readiness_board(session, settings, AUDIENCE_DAY) if r.tag.id == tag.id)
    assert (row.audience, row.no_consent) == (1, 2)
    marketing = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(marketing)
    page = client.get(f"/board?from={AUDIENCE_DAY.isoformat()}").get_data(as_text=True)
    assert "без согласия: 2" in page and "с записанным согласием на рассылку" in page


def test_resubscribing_needs_a_new_consent_record(session, factory, settings):
    admin = factory.advisor(role=Role.ADMIN, name="Админ")
    tag, offer, contact = audience_scene(factory, session, {})
    consent.unsubscribe_by_advisor(session, admin, contact, how=consent.BY_PHONE)
    assert session.scalars(audience.tag_audience(tag.id)).all() == []
    with pytest.raises(consent.ContactError) as error:
        consent.resubscribe(session, admin, contact, "  ")
    assert "consent_source" in error.value.errors
    assert session.get(Contact, contact.id).unsubscribed_at is not None
    before = contact.consent_at
    consent.resubscribe(session, admin, contact, "письмо клиента от 01.12.2026")
    contact = session.get(Contact, contact.id)
    assert contact.consent_source == "письмо клиента от 01.12.2026" and contact.consent_at > before
    assert session.scalars(audience.tag_audience(tag.id)).all() == [contact.id]


def test_resubscribing_is_for_admin_only(session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna, unsubscribed_at=factory.contact().created_at)
    with pytest.raises(consent.NotAllowed):
        consent.resubscribe(session, anna, contact, "звонок")


# --- per person: export and erasure ---------------------------------------------------------


def _person(session, factory):
    tag, offer, contact = audience_scene(
        factory,
        session,
        {
            "first_name": "Иван",
            "last_name": "Иванов",
            "email": "ivanov@client.example.com",
            "phone": "+74951112233",
            "company": "Тойота",
        },
    )
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.SENT, send_on=AUDIENCE_DAY, sent_at=contact.created_at
    )
    session.add(delivery)
    session.flush()
    session.add(
        Click(
            delivery=delivery,
            contact=contact,
            link=offer.links[0],
            clicked_at=contact.created_at,
            ip="203.0.113.7",
            user_agent="Firefox",
            verdict=Verdict.HUMAN,
        )
    )
    session.add(Note(contact_id=contact.id, kind="manual", body="Иван любит мёд, звонить после обеда"))
    session.flush()
    return tag, offer, contact


def test_the_owner_exports_everything_stored_about_a_contact_as_json_and_a_page(client, session, factory):
    tag, offer, contact = _person(session, factory)
    session.commit()
    client.login(contact.owner)
    response = client.get(f"/contacts/{contact.id}/data.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["email"] == "ivanov@client.example.com" and data["contact"]["phone"] == "+74951112233"
    assert data["contact"]["tags"] == [tag.name] and data["contact"]["consent_source"]
    assert [m["status"] for m in data["mails"]] == ["sent"]
    assert data["clicks"][0]["ip"] == "203.0.113.7" and data["clicks"][0]["browser"] == "Firefox"
    assert any("мёд" in n["text"] for n in data["notes"])
    page = client.get(f"/contacts/{contact.id}/data").get_data(as_text=True)
    assert "Всё, что хранится о контакте" in page and "203.0.113.7" in page and "мёд" in page
    assert "Удалить персональные данные" not in page  # admin only
    stranger = factory.advisor()
    session.commit()
    client.post_form("/logout")
    client.login(stranger)
    assert client.get(f"/contacts/{contact.id}/data.json").status_code == 404


def test_erasure_removes_personal_fields_keeps_counts_and_the_address_only_as_a_hash(client, session, factory, settings):
    admin = factory.advisor(role=Role.ADMIN)
    tag, offer, contact = _person(session, factory)
    session.add(Suppression(email="ivanov@client.example.com", reason="unsubscribe"))
    session.commit()
    client.login(admin)
    response = client.post_form(f"/contacts/{contact.id}/erase", {"confirm": "yes"}, follow_redirects=True)
    assert "Персональные данные удалены" in response.get_data(as_text=True)
    session.expire_all()
    erased = session.get(Contact, contact.id)
    assert erased.erased_at and erased.archived_at and erased.email is None and erased.phone is None
    assert (erased.last_name, erased.company, erased.position, erased.consent_source) == ("", "", "", "")
    # Anonymous counts stay: the mail, the click (without address and browser), the notes without text.
    assert session.scalar(select(Delivery.id).where(Delivery.contact_id == contact.id)) is not None
    click = session.scalar(select(Click).where(Click.contact_id == contact.id))
    assert click.ip is None and click.user_agent is None
    assert not any("мёд" in (n.body or "") for n in erased.notes)
    # Nowhere in the stop list is the address readable; its hash is there, keyed with SECRET_KEY (152-FZ):
    # not the plain SHA-256 anyone could test a guessed address against.
    emails = set(session.scalars(select(Suppression.email)))
    assert "ivanov@client.example.com" not in emails
    assert keyed_address_hash("ivanov@client.example.com", settings.secret_key) in emails
    assert address_hash("ivanov@client.example.com") not in emails
    assert "ivanov" not in json.dumps(privacy.export(session, erased), ensure_ascii=False)


@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
def test_an_erased_person_added_again_is_never_mailed(session, factory, settings, path):
    from campaigns import contacts

    admin = factory.advisor(role=Role.ADMIN)
    privacy.erase(session, admin, factory.contact(email="ivanov@client.example.com"))
    tag, offer = audience_offer(factory)
    # Added again as any advisor adds a contact (every way in: tests/test_erasure.py).
    fields = {"first_name": "Иван", "email": "IVANOV@client.example.com ", "tags": [tag.id], "consent_source": "визитка"}
    contact = contacts.create_contact(session, factory.advisor(), fields)
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is False
    assert consent.consent_facts(session, contact).suppression.detail == consent.ERASED_AGAIN


def test_the_import_preview_flags_an_erased_address(session, factory, tmp_path):
    from campaigns.import_check import ImportOptions, preview_import

    admin = factory.advisor(role=Role.ADMIN)
    privacy.erase(session, admin, factory.contact(email="ivanov@client.example.com"))
    session.commit()
    path = write_csv(tmp_path, [["Имя", "E-mail рабочий"], ["Иван", "Ivanov@client.example.com"], ["Анна", "anna@x.example.ru"]])
    plan = preview_import(session, path, "t.csv", ImportOptions(user_id=factory.advisor().id))
    assert [any("списке исключений" in hint for hint in row.hints) for row in plan.rows] == [True, False]


def test_only_admin_erases(client, session, factory):
    contact = factory.contact()
    session.commit()
    client.login(contact.owner)
    assert client.post_form(f"/contacts/{contact.id}/erase", {"confirm": "yes"}).status_code == 403
    session.expire_all()
    assert session.get(Contact, contact.id).email is not None


def test_the_card_says_a_contact_without_consent_gets_no_mailings(client, session, factory, app):
    contact = factory.contact(consent_at=None)
    with_consent = factory.contact(owner=contact.owner)
    session.commit()
    client.login(contact.owner)
    assert "Нет согласия на рассылку — писем не будет." in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Нет согласия на рассылку" not in client.get(f"/contacts/{with_consent.id}").get_data(as_text=True)


def test_an_erased_contact_cannot_be_resubscribed_nor_restored(session, factory):
    from campaigns import contacts

    admin = factory.advisor(role=Role.ADMIN)
    contact = factory.contact()
    privacy.erase(session, admin, contact)
    with pytest.raises(consent.NotAllowed):
        consent.resubscribe(session, admin, contact, "новое согласие")
    with pytest.raises(contacts.NotAllowed):
        contacts.restore(session, admin, contact)
    assert session.get(Contact, contact.id).archived_at is not None
