"""The house advisor is a role admin assigns (page and command); without one the board and the
migrate command say so; he is the default heir; his hot contacts reach the users admin names (#17)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from campaigns import accounts, board, digest, hotlist
from campaigns.cli import group
from campaigns.config import parse_mail_url
from campaigns.db import utcnow
from campaigns.models import Advisor, Role
from campaigns.sender import house_advisor
from tests.scenes import Mailing


@pytest.fixture
def admin(factory):
    return factory.advisor(role=Role.ADMIN, name="Сергей Орлов", email="admin@studio.example.com")


def test_admin_makes_an_advisor_the_house_advisor_on_his_page_and_the_old_one_steps_down(client, session, factory, admin):
    old = factory.house_advisor(name="Старый Дежурный")
    anna = factory.advisor(name="Анна")
    session.commit()
    client.login(admin)
    page = client.get(f"/admin/users/{anna.id}/edit").get_data(as_text=True)
    assert "Сделать дежурным советником" in page and "сейчас дежурный — Старый Дежурный" in page
    response = client.post_form(f"/admin/users/{anna.id}/house", follow_redirects=True)
    assert "Анна — дежурный советник. Старый Дежурный теперь обычный советник." in response.get_data(as_text=True)
    session.expire_all()
    assert house_advisor(session).id == anna.id and not session.get(Advisor, old.id).is_house


def test_only_an_active_advisor_can_be_the_house_advisor(session, factory):
    marketing = factory.advisor(role=Role.MARKETING)
    gone = factory.advisor(active=False)
    for person in (marketing, gone):
        with pytest.raises(accounts.AccountError) as error:
            accounts.make_house(session, person)
        assert "house" in error.value.errors
    assert house_advisor(session) is None


def test_the_users_page_warns_in_red_while_there_is_no_house_advisor(client, session, factory, admin):
    session.commit()
    client.login(admin)
    assert "Дежурного советника нет" in client.get("/admin/users").get_data(as_text=True)
    factory.house_advisor()
    session.commit()
    assert "Дежурного советника нет" not in client.get("/admin/users").get_data(as_text=True)


def test_cli_creates_the_house_advisor_with_a_signature_and_names_who_gets_his_hot_contacts(app, session, factory):
    runner = app.test_cli_runner()
    result = runner.invoke(
        group,
        [
            "create-user",
            "tupin@studio.example.com",
            "Василий Тупин",
            "--house",
            "--signature",
            "С уважением,\\nВасилий Тупин, отдел продаж",
            "--password",
            "long enough pass",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(the house advisor)" in result.output
    tupin = house_advisor(session)
    assert tupin.email == "tupin@studio.example.com" and tupin.signature == "С уважением,\nВасилий Тупин, отдел продаж"
    head = factory.advisor(role=Role.ADMIN, email="head@studio.example.com")
    session.commit()
    result = runner.invoke(group, ["house-hot", "head@studio.example.com"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert [u.email for u in accounts.house_watchers(session)] == ["head@studio.example.com"]
    anna = factory.advisor(email="anna@studio.example.com")
    session.commit()
    result = runner.invoke(group, ["house", "anna@studio.example.com"])
    assert result.exit_code == 0 and "tupin@studio.example.com is an ordinary advisor again" in result.output
    session.expire_all()
    assert house_advisor(session).id == anna.id and head.id != anna.id


def test_migrate_on_an_empty_database_says_how_to_set_up_the_house_advisor(app, session, factory):
    runner = app.test_cli_runner()
    result = runner.invoke(group, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "no house advisor yet" in result.output and "--house" in result.output and "campaigns house EMAIL" in result.output
    factory.house_advisor()
    session.commit()
    assert "no house advisor" not in runner.invoke(group, ["migrate"]).output


def test_the_board_shows_a_red_line_when_mails_would_fall_back_on_a_missing_house_advisor(
    client, session, factory, settings, admin
):
    soon = date.today() + timedelta(days=20)
    tag = factory.tag(rule=f"{soon.day} {soon.strftime('%b').lower()}", lead_days=0)
    gone = factory.advisor(name="Ушедший", active=False)
    factory.contact(owner=gone, tags=[tag])
    factory.contact(owner=gone, tags=[tag])
    session.commit()
    today = date.today()
    rows = board.readiness_board(session, settings, today)
    assert board.without_sender(rows) == 2
    client.login(admin)
    page = client.get("/board").get_data(as_text=True)
    assert "Дежурного советника нет: 2 письма контактам неактивных советников" in page
    factory.house_advisor()
    session.commit()
    assert board.without_sender(board.readiness_board(session, settings, today)) == 0
    assert "Дежурного советника нет" not in client.get("/board").get_data(as_text=True)


def test_deactivation_offers_the_house_advisor_as_the_heir(client, session, factory, admin):
    factory.advisor(name="Алексей")  # first in the list by name
    house = factory.house_advisor(name="Яков Дежурный")
    leaving = factory.advisor(name="Борис")
    factory.contact(owner=leaving)
    session.commit()
    client.login(admin)
    page = client.get(f"/admin/users/{leaving.id}/deactivate").get_data(as_text=True)
    selected = re.search(r'<option selected value="(\d+)">|<option value="(\d+)" selected>', page)
    assert selected and int(selected.group(1) or selected.group(2)) == house.id


def _house_click(session, factory, house):
    m = Mailing(session, factory)
    contact = factory.contact(owner=house, company="Ничейная компания", phone="+74950000001")
    m.click(contact, m.discount, timedelta(hours=3))
    return contact


def test_the_house_advisors_clicks_reach_the_head_of_sales_hot_list_and_nobody_else(client, session, factory, settings):
    house = factory.house_advisor()
    head = factory.advisor(name="Начальник продаж", role=Role.ADMIN)
    anna = factory.advisor(name="Анна")
    contact = _house_click(session, factory, house)
    assert hotlist.house_hot_list(session, head, settings) == (None, [])
    head.watches_house = True
    session.commit()
    got_house, entries = hotlist.house_hot_list(session, head, settings)
    assert got_house.id == house.id and [e.company for e in entries] == ["Ничейная компания"]
    assert hotlist.house_hot_list(session, anna, settings) == (None, [])
    client.login(head)
    page = client.get("/hot/").get_data(as_text=True)
    assert "Горячие контакты дежурного советника" in page and "Ничейная компания" in page
    assert "Горячие контакты дежурного советника" in client.get("/").get_data(as_text=True)
    # He works them from the list: the call is logged on the house advisor's contact.
    response = client.post_form(f"/hot/{contact.id}/dismiss", follow_redirects=True)
    assert response.status_code == 200
    assert hotlist.house_hot_list(session, head, settings)[1] == []


def test_an_advisor_who_does_not_get_the_house_list_cannot_act_on_its_contacts(client, session, factory, settings):
    house = factory.house_advisor()
    anna = factory.advisor()
    contact = _house_click(session, factory, house)
    session.commit()
    client.login(anna)
    assert client.post_form(f"/hot/{contact.id}/dismiss").status_code == 404
    assert "Ничейная компания" not in client.get("/hot/").get_data(as_text=True)


def test_the_head_of_sales_gets_the_house_advisors_hot_contacts_in_the_morning_digest(session, factory, settings, smtp_server):
    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    house = factory.house_advisor(email="tupin@studio.example.com")
    head = factory.advisor(name="Начальник продаж", role=Role.ADMIN, email="head@studio.example.com")
    head.watches_house = True
    monday_0840 = datetime(2026, 11, 23, 5, 40, tzinfo=UTC)
    m = Mailing(session, factory)
    contact = factory.contact(owner=house, company="Ничейная компания")
    m.click(contact, m.discount, utcnow() - (monday_0840 - timedelta(hours=12)))
    session.commit()
    assert digest.send_due_digests(session, smtp_settings, now=monday_0840) == 1
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["head@studio.example.com"]  # not the house advisor's own mailbox
    msg = message_from_bytes(envelope.content, policy=default)
    text = msg.get_body(("plain",)).get_content()
    assert "Горячие контакты дежурного советника (Василий Тупин)" in text and "Ничейная компания" in text
    assert msg["Subject"] == "Горячий список на 23 ноября: 1 клиент"
    assert session.scalar(select(Advisor.watches_house).where(Advisor.id == house.id)) is False


def test_a_head_of_sales_in_marketing_logs_a_call_on_a_house_contact_from_the_hot_list(client, session, factory, settings):
    house = factory.house_advisor()
    head = factory.advisor(name="Начальник продаж", role=Role.MARKETING)
    head.watches_house = True
    contact = _house_click(session, factory, house)
    session.commit()
    client.login(head)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    response = client.post_form(
        f"/hot/{contact.id}/call",
        {f"c{contact.id}-result": "перезвонить", f"c{contact.id}-interest": "yes", f"c{contact.id}-next_contact_on": tomorrow},
    )
    assert response.status_code == 302
    assert hotlist.house_hot_list(session, head, settings)[1] == []
