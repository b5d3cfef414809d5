"""Users after creation (#17): each edits their own name, signature, phone and password; admin
edits role, daily cap, hours and zone, reactivates, and mails a one-time password-reset link;
pacing follows each advisor's own hours and time zone."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, time
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from campaigns import accounts, pacing
from campaigns.config import parse_mail_url
from campaigns.models import Advisor, Delivery, DeliveryStatus, Role
from tests.support import PASSWORD

DAY = date(2026, 6, 15)  # a Monday
MIDNIGHT_UTC = datetime(2026, 6, 15, 0, 0, tzinfo=UTC)


@pytest.fixture
def admin(factory):
    return factory.advisor(role=Role.ADMIN, name="Сергей Орлов", email="admin@studio.example.com")


def test_a_user_edits_own_name_signature_and_phone_and_the_offer_mail_signs_with_it(client, session, factory):
    anna = factory.advisor(name="Анна")
    session.commit()
    client.login(anna)
    assert "Мои настройки" in client.get("/profile").get_data(as_text=True)
    response = client.post_form(
        "/profile",
        {"name": "Анна Смирнова", "signature": "Анна Смирнова\r\nотдел подарков", "phone": "8 (916) 123-45-67"},
        follow_redirects=True,
    )
    assert "Настройки сохранены." in response.get_data(as_text=True)
    session.expire_all()
    anna = session.get(Advisor, anna.id)
    assert (anna.name, anna.signature, anna.phone) == ("Анна Смирнова", "Анна Смирнова\nотдел подарков", "+79161234567")


def test_the_profile_refuses_an_empty_name_and_a_bad_phone_beside_the_fields(client, session, factory):
    anna = factory.advisor(name="Анна")
    session.commit()
    client.login(anna)
    page = client.post_form("/profile", {"name": " ", "signature": "", "phone": "12"}).get_data(as_text=True)
    assert "Введите имя" in page
    session.expire_all()
    assert session.get(Advisor, anna.id).name == "Анна"


def test_admin_sets_role_cap_hours_and_zone_and_refuses_nonsense(client, session, factory, admin):
    anna = factory.advisor(name="Анна")
    session.commit()
    client.login(admin)
    page = client.post_form(
        f"/admin/users/{anna.id}/edit", {"role": "advisor", "daily_cap": "0", "work_hours": "18-9", "timezone": "Mars/Olympus"}
    ).get_data(as_text=True)
    assert "Целое число больше нуля" in page and "09:30-18:00" in page and "Неизвестный часовой пояс" in page
    response = client.post_form(
        f"/admin/users/{anna.id}/edit",
        {"role": "advisor", "daily_cap": "25", "work_hours": "8:00-17:00", "timezone": "Asia/Yekaterinburg"},
    )
    assert response.status_code == 302
    session.expire_all()
    anna = session.get(Advisor, anna.id)
    assert (anna.daily_cap, anna.work_hours, anna.timezone) == (25, "08:00-17:00", "Asia/Yekaterinburg")
    client.post_form(f"/admin/users/{anna.id}/edit", {"role": "marketing", "daily_cap": "", "work_hours": "", "timezone": ""})
    session.expire_all()
    anna = session.get(Advisor, anna.id)
    assert (anna.role, anna.daily_cap, anna.work_hours, anna.timezone) == (Role.MARKETING, None, None, None)


def test_an_advisor_cannot_open_the_admins_user_page(client, session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    session.commit()
    client.login(anna)
    assert client.get(f"/admin/users/{igor.id}/edit").status_code == 403
    assert client.post_form(f"/admin/users/{igor.id}/reset").status_code == 403


def test_admin_reactivates_a_deactivated_user_who_can_log_in_again(client, session, factory, admin):
    from campaigns import ownership

    gone = factory.advisor(name="Борис")
    ownership.deactivate_advisor(session, admin, gone, None)
    session.commit()
    client.login(admin)
    page = client.get(f"/admin/users/{gone.id}/edit").get_data(as_text=True)
    assert "Вернуть пользователя" in page
    client.post_form(f"/admin/users/{gone.id}/reactivate")
    session.expire_all()
    assert session.get(Advisor, gone.id).active
    client.post_form("/logout")
    client.login(session.get(Advisor, gone.id))


def _reset_link(client, session, factory, admin, smtp_server, app):
    anna = factory.advisor(name="Анна", email="anna@studio.example.com")
    session.commit()
    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], mail=parse_mail_url(smtp_server.url, app.config["SETTINGS"].instance_path)
    )
    client.login(admin)
    response = client.post_form(f"/admin/users/{anna.id}/reset", follow_redirects=True)
    assert "Ссылка для нового пароля отправлена на anna@studio.example.com" in response.get_data(as_text=True)
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["anna@studio.example.com"]
    text = message_from_bytes(envelope.content, policy=default).get_body(("plain",)).get_content()
    client.post_form("/logout")
    return anna, re.search(r"https://campaigns\.example\.com(/reset/\S+)", text).group(1)


@pytest.fixture
def restore_settings(app):
    saved = app.config["SETTINGS"]
    yield
    app.config["SETTINGS"] = saved


def test_the_reset_link_sets_a_new_password_once(client, session, factory, admin, smtp_server, app, restore_settings):
    anna, path = _reset_link(client, session, factory, admin, smtp_server, app)
    assert "задайте новый пароль" in client.get(path).get_data(as_text=True)
    token = client.csrf_token(path)  # logged out: the page's own form carries it
    page = client.post(path, data={"new": "short", "repeat": "short", "csrf_token": token}).get_data(as_text=True)
    assert "Не короче 10 символов" in page
    response = client.post(path, data={"new": "a brand new secret", "repeat": "a brand new secret", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    session.expire_all()
    client.login(session.get(Advisor, anna.id), password="a brand new secret")
    client.post_form("/logout")
    # Spent: the same link opens nothing and changes nothing.
    again = client.get(path)
    assert again.status_code == 404 and "Ссылка недействительна" in again.get_data(as_text=True)
    assert (
        client.post(
            path, data={"new": "another new secret", "repeat": "another new secret", "csrf_token": client.csrf_token("/login")}
        ).status_code
        == 404
    )
    client.login(session.get(Advisor, anna.id), password="a brand new secret")


def test_a_reset_link_expires_and_a_forged_one_opens_nothing(session, factory, settings):
    anna = factory.advisor()
    token = accounts.reset_token(anna, settings.secret_key)
    assert accounts.user_for_reset(session, token, settings.secret_key).id == anna.id
    assert accounts.user_for_reset(session, token, settings.secret_key, max_age=-1) is None
    assert accounts.user_for_reset(session, token, "another key") is None
    assert accounts.user_for_reset(session, token[:-2] + "xx", settings.secret_key) is None
    anna.active = False
    assert accounts.user_for_reset(session, token, settings.secret_key) is None


def test_the_access_log_hides_a_reset_token():
    from campaigns.accesslog import strip_tokens

    assert strip_tokens('"GET /reset/eyJ1Ijo.abc-def HTTP/1.1" 200') == '"GET /reset/*** HTTP/1.1" 200'


def _planned(factory, session, owner, count):
    tag = factory.tag()
    offer = factory.offer(tag=tag, year=DAY.year)
    for _ in range(count):
        session.add(
            Delivery(offer=offer, contact=factory.contact(owner=owner, tags=[tag]), status=DeliveryStatus.PLANNED, send_on=DAY)
        )
    session.flush()


def test_pacing_follows_each_advisors_own_hours_and_time_zone(session, factory, settings):
    moscow = factory.advisor(name="Москва")
    ural = factory.advisor(name="Екатеринбург")
    ural.work_hours, ural.timezone = "10:00-13:00", "Asia/Yekaterinburg"
    session.flush()
    _planned(factory, session, moscow, 6)
    _planned(factory, session, ural, 6)
    pacing.pace_day(session, DAY, settings, now=MIDNIGHT_UTC)
    session.expire_all()
    rows = session.scalars(select(Delivery)).all()
    assert all(d.send_at is not None for d in rows)
    for d in rows:
        if d.advisor_id == ural.id:
            from zoneinfo import ZoneInfo

            local = d.send_at.astimezone(ZoneInfo("Asia/Yekaterinburg"))
            assert time(10, 0) <= local.time() < time(13, 0)  # 08:00-11:00 in Moscow
        else:
            local = d.send_at.astimezone(settings.timezone)
            assert time(9, 30) <= local.time() < time(18, 0)
    ural_latest = max(d.send_at for d in rows if d.advisor_id == ural.id)
    assert ural_latest < datetime(2026, 6, 15, 8, 0, tzinfo=UTC)  # 13:00 in Yekaterinburg


def test_create_user_gets_a_signature_by_default_and_the_one_given(session):
    plain = accounts.create_user(session, email="a@studio.example.com", name="Анна Смирнова", password=PASSWORD)
    given = accounts.create_user(
        session, email="b@studio.example.com", name="Борис", password=PASSWORD, signature="Борис, отдел продаж"
    )
    assert plain.signature == "С уважением,\nАнна Смирнова" and given.signature == "Борис, отдел продаж"


def test_the_morning_digest_comes_at_0830_in_each_advisors_own_time_zone(session, factory, settings, smtp_server):
    from datetime import timedelta

    from campaigns import digest

    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    moscow = factory.advisor(name="Москва", email="moscow@studio.example.com")
    ural = factory.advisor(name="Урал", email="ural@studio.example.com")
    ural.timezone = "Asia/Yekaterinburg"  # UTC+5, Moscow UTC+3
    monday = date(2026, 11, 23)
    for owner in (moscow, ural):
        factory.contact(owner=owner, next_contact_on=monday)  # a planned call: something to tell
    session.commit()
    ural_0840 = datetime(2026, 11, 23, 3, 40, tzinfo=UTC)  # 06:40 in Moscow
    assert digest.send_due_digests(session, smtp_settings, now=ural_0840) == 1
    assert [e.rcpt_tos for e in smtp_server.messages] == [["ural@studio.example.com"]]
    assert digest.send_due_digests(session, smtp_settings, now=ural_0840 + timedelta(hours=2)) == 1  # 08:40 Moscow
    assert [e.rcpt_tos for e in smtp_server.messages][-1] == ["moscow@studio.example.com"]


def test_an_advisor_with_contacts_keeps_the_advisor_role_until_they_are_handed_over(session, factory, admin):
    anna = factory.advisor()
    factory.contact(owner=anna)
    with pytest.raises(accounts.AccountError) as error:
        accounts.admin_update(
            session, admin, anna, role="marketing", daily_cap="", work_hours="", timezone="", watches_house=False
        )
    assert "сначала передайте" in error.value.errors["role"]
    assert anna.role == Role.ADVISOR
