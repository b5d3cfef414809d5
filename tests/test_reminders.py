"""No yearly mailing is missed in silence (#20): reminders before, «ждёт предложения» on and after the send
date, «пропущено» when the window closes, and each mailing's state on the calendar."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from email import message_from_bytes
from email import policy as email_policy

import pytest
from sqlalchemy import func, select

from campaigns import mailings, planner, reminders
from campaigns.config import parse_mail_url
from campaigns.extensions import redis_client
from campaigns.models import MissedMailing, OfferStatus, Role, SentNotice, TagKind

MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()


@pytest.fixture
def mail(settings, smtp_server, app, monkeypatch):
    smtp = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    monkeypatch.setitem(app.config, "SETTINGS", smtp)
    return smtp


def _people(factory):
    return (
        factory.advisor(name="Мария Маркетолог", role=Role.MARKETING, email="marketing@studio.example.com"),
        factory.advisor(name="Алексей Админ", role=Role.ADMIN, email="admin@studio.example.com"),
    )


def _received(smtp_server):
    out = []
    for envelope in smtp_server.messages:
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        out.append(
            (
                msg["To"].addresses[0].addr_spec,
                str(msg["Subject"]),
                msg.get_body(("plain",)).get_content(),
                msg.get_body(("html",)).get_content(),
            )
        )
    return out


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 3, tzinfo=UTC)  # Moscow time


def test_reminders_go_21_7_and_1_days_before_once_each_even_after_a_redis_flush(session, factory, mail, smtp_server):
    _people(factory)
    tag = factory.tag("8 марта", kind=TagKind.HOLIDAY, rule="8 mar", lead_days=21)  # sends Mon 15 Feb 2027
    anna = factory.advisor(name="Анна", daily_cap=2)
    for _ in range(3):
        factory.contact(owner=anna, tags=[tag])
    factory.offer(tag=tag, year=2026, status=OfferStatus.READY)  # last year's, to start from
    session.commit()

    assert reminders.run(session, mail, now=_at(date(2027, 1, 24))) == 0  # 22 days before: nothing yet
    assert reminders.run(session, mail, now=_at(date(2027, 1, 25))) == 1  # 21 days
    redis_client().flushdb()
    assert reminders.run(session, mail, now=_at(date(2027, 1, 25), 15)) == 0  # once, whatever Redis lost
    assert reminders.run(session, mail, now=_at(date(2027, 2, 1))) == 0
    assert reminders.run(session, mail, now=_at(date(2027, 2, 8))) == 1  # 7 days
    assert reminders.run(session, mail, now=_at(date(2027, 2, 14))) == 2  # 1 day: marketing and admin's copy
    assert reminders.run(session, mail, now=_at(date(2027, 2, 14), 18)) == 0

    mails = _received(smtp_server)
    assert [to for to, *_ in mails[:2]] == ["marketing@studio.example.com"] * 2
    assert sorted(to for to, *_ in mails[2:]) == ["admin@studio.example.com", "marketing@studio.example.com"]
    to, subject, text, html = mails[0]
    assert "8 марта" in subject and "15.02.2027" in subject and "предложения нет" in subject
    assert "Получателей: 3" in text and "Анна: 3 писем, 2 раб. дн." in text
    assert "https://campaigns.example.com/offers?year=2027" in text and "/offers/" in text  # create; last year's
    assert "Получателей: 3" in html and "Анна" in html
    assert "Завтра" in mails[2][1] and "Завтра" in mails[3][1]
    kinds = session.scalars(select(SentNotice.kind).order_by(SentNotice.id)).all()
    assert kinds == ["mailing_before_21", "mailing_before_7", "mailing_before_1"]


def test_a_draft_is_reminded_and_a_ready_offer_is_not(session, factory, mail, smtp_server):
    _people(factory)
    draft = factory.tag("Строители", rule="2 sun aug", lead_days=21)  # 16 Jul 2027
    ready = factory.tag("Медики", rule="3 sun jun", lead_days=21)  # 28 May 2027
    factory.offer(tag=draft, year=2027, status=OfferStatus.DRAFT)
    factory.offer(tag=ready, year=2027, status=OfferStatus.READY)
    session.commit()

    assert reminders.run(session, mail, now=_at(date(2027, 5, 27))) == 0  # Medics: ready, 1 day before
    assert reminders.run(session, mail, now=_at(date(2027, 7, 9))) == 1  # Builders: draft, 7 days before
    assert "черновик" in _received(smtp_server)[0][1]


def test_a_due_mailing_without_an_offer_waits_and_marketing_is_told_each_working_morning(session, factory, mail, smtp_server):
    _people(factory)
    march = factory.tag("Март", kind=TagKind.MONTH, rule="workday1 mar", lead_days=0)  # Mon 1 Mar 2027, until 15 Mar
    factory.contact(tags=[march])
    session.commit()

    assert reminders.run(session, mail, now=_at(date(2027, 3, 1), 7)) == 0  # before the working day starts
    assert reminders.run(session, mail, now=_at(date(2027, 3, 1))) == 1
    assert reminders.run(session, mail, now=_at(date(2027, 3, 1), 16)) == 0
    assert reminders.run(session, mail, now=_at(date(2027, 3, 2))) == 1
    assert reminders.run(session, mail, now=_at(date(2027, 3, 6))) == 0  # Saturday
    assert reminders.run(session, mail, now=_at(date(2027, 3, 16))) == 0  # the window has closed
    to, subject, text, _html = _received(smtp_server)[0]
    assert to == "marketing@studio.example.com" and "ждёт предложения" in subject and "15.03.2027" in subject
    assert "Получателей: 1" in text

    mailing = {(m.tag.name, m.year): m for m in mailings.mailings(session, date(2027, 3, 2), [2027])}
    assert mailing[("Март", 2027)].state == "waiting"


def test_the_offer_made_ready_in_the_window_is_planned_as_usual(session, factory, settings):
    march = factory.tag("Март", kind=TagKind.MONTH, rule="workday1 mar", lead_days=0)
    factory.contact(tags=[march])
    assert planner.plan_day(session, date(2027, 3, 1), settings).planned == 0  # nothing to plan without an offer
    factory.offer(tag=march, year=2027)  # made ready on 10 March
    assert planner.plan_day(session, date(2027, 3, 10), settings).planned == 1


def test_a_window_closing_without_an_offer_is_recorded_missed_and_told_once(session, factory, mail, smtp_server, client):
    marketing, admin = _people(factory)
    march = factory.tag("Март", kind=TagKind.MONTH, rule="workday1 mar", lead_days=0)
    factory.contact(tags=[march])
    factory.contact(tags=[march])
    planner.plan_day(session, date(2027, 3, 15), settings=mail)
    assert session.scalar(select(func.count()).select_from(MissedMailing)) == 0  # the last day: still open

    planner.plan_day(session, date(2027, 3, 16), settings=mail)
    planner.plan_day(session, date(2027, 3, 17), settings=mail)
    record = session.scalar(select(MissedMailing))
    assert (record.year, record.audience, record.mails, record.offer_status) == (2027, 2, 0, "missing")
    session.commit()

    assert reminders.run(session, mail, now=_at(date(2027, 3, 16))) == 2
    redis_client().flushdb()
    assert reminders.run(session, mail, now=_at(date(2027, 3, 17))) == 0
    assert sorted(to for to, *_ in _received(smtp_server)) == ["admin@studio.example.com", "marketing@studio.example.com"]
    _to, subject, text, _html = _received(smtp_server)[0]
    assert "пропущена" in subject and "Получателей рассылки: 2" in text

    assert mailings.mailings(session, date(2027, 3, 17), [2027])[0].state == "missed"
    client.login(marketing)
    page = client.get("/results/?year=2027").get_data(as_text=True)
    section = page.split("Пропущенные рассылки, 2027")[1].split("</table>")[0]
    assert "Март 2027" in section and "нет предложения" in section


def test_a_january_occasion_sent_in_december_crosses_the_year_boundary(session, factory, mail, smtp_server):
    _people(factory)
    # 15 Jan 2028 minus 40 days: Mon 6 Dec 2027. The mailing belongs to 2028; its window ends on 15 Jan 2028.
    tag = factory.tag("Старый Новый год", kind=TagKind.HOLIDAY, rule="15 jan", lead_days=40)
    factory.contact(tags=[tag])
    session.commit()

    assert reminders.run(session, mail, now=_at(date(2027, 11, 15))) == 1  # 21 days before, for 2028
    assert session.scalar(select(SentNotice.day)) == date(2027, 12, 6)  # the 2028 mailing's send date
    states = {m.year: m.state for m in mailings.mailings(session, date(2027, 12, 1), [2027, 2028])}
    assert states[2028] == "missing"
    assert reminders.run(session, mail, now=_at(date(2027, 12, 6))) == 1  # waiting, in December
    assert {m.year: m.state for m in mailings.mailings(session, date(2027, 12, 31), [2028])} == {2028: "waiting"}

    planner.plan_day(session, date(2028, 1, 14), settings=mail)
    assert session.scalar(select(MissedMailing).where(MissedMailing.year == 2028)) is None  # still open
    planner.plan_day(session, date(2028, 1, 17), settings=mail)
    record = session.scalar(select(MissedMailing).where(MissedMailing.year == 2028))
    assert (record.year, record.send_on, record.last_day) == (2028, date(2027, 12, 6), date(2028, 1, 15))


@pytest.mark.parametrize(
    "offer, sent, today, state",
    [
        (None, False, date(2027, 6, 1), "missing"),
        ("draft", False, date(2027, 6, 1), "draft"),
        ("ready", False, date(2027, 6, 1), "ready"),
        ("draft", False, date(2027, 7, 20), "waiting"),
        ("ready", True, date(2027, 7, 20), "sent"),
        (None, False, date(2027, 8, 9), "missed"),
    ],
)
def test_each_mailing_has_one_state(offer, sent, today, state):
    class Offer:
        status = OfferStatus(offer) if offer else None

    assert (
        mailings.mailing_state(today, date(2027, 7, 16), date(2027, 8, 8), Offer() if offer else None, sent=sent, recorded=False)
        == state
    )


def _today_rule(today: date) -> str:
    return "28 feb" if (today.month, today.day) == (2, 29) else f"{today.day} {MONTHS[today.month - 1]}"


def test_the_board_calendar_and_queue_show_a_waiting_mailing_with_its_audience(client, session, factory):
    marketing, admin = _people(factory)
    today = date.today()
    tag = factory.tag("Сегодняшний праздник", kind=TagKind.HOLIDAY, rule=_today_rule(today), lead_days=0)
    for _ in range(2):
        factory.contact(tags=[tag])
    ready = factory.tag("Готовый", rule="1 sun jul", lead_days=21)
    factory.offer(tag=ready, year=today.year + 1)
    session.commit()

    client.login(admin)
    board = client.get("/board").get_data(as_text=True)
    row = board.split('data-tag="Сегодняшний праздник"')[1].split("</tr>")[0]
    assert "ждёт предложения" in row and '<td class="audience">2</td>' in row
    queue = client.get("/queue").get_data(as_text=True)
    row = queue.split('data-tag="Сегодняшний праздник"')[1].split("</tr>")[0]
    assert "ждёт предложения" in row and "<td>2</td>" in row
    calendar_page = client.get("/calendar").get_data(as_text=True)
    states = calendar_page.split('data-tag="Сегодняшний праздник"')[1].split("</tr>")[0]
    assert f'data-year="{today.year}" data-state="waiting"' in states
    assert f'data-year="{today.year + 1}" data-state="missing"' in states
    ready_row = calendar_page.split('data-tag="Готовый"')[1].split("</tr>")[0]
    assert f'data-year="{today.year + 1}" data-state="ready"' in ready_row
