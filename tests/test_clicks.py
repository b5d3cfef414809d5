"""People told from scanners: every stored click has a verdict and a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns import clicks
from campaigns.extensions import redis_client
from campaigns.models import Click, Delivery, DeliveryStatus, Link, Note, NoteKind, Verdict
from campaigns.tracking import TRAP_LINK_ID

SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LATER = SENT + timedelta(hours=2)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"
OFFICE_IP = "95.165.10.20"


def mail(factory, session, contact=None):
    offer = factory.offer()
    links = {
        "catalog": Link(offer=offer, name="catalog", url="https://gifts.example.com/catalog", label="Каталог", weight=1),
        "discount": Link(offer=offer, name="discount", url="https://gifts.example.com/sale", label="Скидка", weight=3),
    }
    session.add_all(links.values())
    delivery = Delivery(
        offer=offer, contact=contact or factory.contact(), send_on=SENT.date(), status=DeliveryStatus.SENT, sent_at=SENT
    )
    session.add(delivery)
    session.commit()
    return delivery, links


def click(delivery, link_id, at, method="GET", ua=FIREFOX, ip=OFFICE_IP):
    clicks.record_click(redis_client(), delivery.id, link_id, method=method, ip=ip, user_agent=ua, at=at.timestamp())


def flush(session):
    return clicks.flush_clicks(session, redis_client(), now=datetime.now(UTC) + timedelta(days=3650))


def stored(session):
    return [(c.link_id, c.verdict, c.reason) for c in session.query(Click).order_by(Click.clicked_at, Click.id)]


def test_it_takes_a_late_click_with_a_browser_for_a_person(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["discount"].id, LATER)
    assert flush(session) == 1
    assert stored(session) == [(links["discount"].id, Verdict.HUMAN, "переход человека")]


def test_it_takes_a_head_request_for_a_scanner(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER, method="HEAD")
    flush(session)
    [(_, verdict, reason)] = stored(session)
    assert verdict == Verdict.BOT and "HEAD" in reason


def test_it_takes_a_click_seconds_after_sending_for_a_scanner(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, SENT + timedelta(seconds=4))
    flush(session)
    assert stored(session) == [(links["catalog"].id, Verdict.BOT, "переход через 4 с после отправки")]


def test_it_takes_every_link_clicked_within_a_second_for_a_scanner(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    click(delivery, links["discount"].id, LATER + timedelta(milliseconds=400))
    flush(session)
    assert stored(session) == [
        (links["catalog"].id, Verdict.BOT, "все ссылки письма открыты за секунду"),
        (links["discount"].id, Verdict.BOT, "все ссылки письма открыты за секунду"),
    ]


def test_a_person_clicking_both_links_a_minute_apart_stays_a_person(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    click(delivery, links["discount"].id, LATER + timedelta(minutes=1))
    flush(session)
    assert [v for _, v, _ in stored(session)] == [Verdict.HUMAN, Verdict.HUMAN]


@pytest.mark.parametrize(
    "ua, name",
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) SafeLinks/1.0",
            "Microsoft Safe Links",
        ),
        ("Proofpoint URL Defense", "Proofpoint"),
        ("Mimecast URL Protect", "Mimecast"),
        ("Barracuda Sentinel (EE)", "Barracuda"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
            "безголовый браузер",
        ),
    ],
)
def test_it_knows_mail_scanners_by_user_agent(session, factory, ua, name):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER, ua=ua)
    flush(session)
    assert stored(session) == [(links["catalog"].id, Verdict.BOT, f"почтовый сканер по User-Agent: {name}")]


@pytest.mark.parametrize("ua", ["curl/8.5.0", "python-requests/2.32.3", ""])
def test_it_knows_generic_bots_by_user_agent(session, factory, ua):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER, ua=ua)
    flush(session)
    [(_, verdict, reason)] = stored(session)
    assert verdict == Verdict.BOT and ("бот по User-Agent" in reason or reason == "нет User-Agent")


@pytest.mark.parametrize(
    "ip, name",
    [
        ("40.107.22.71", "Microsoft Exchange Online Protection"),
        ("148.163.150.1", "Proofpoint"),
        ("2a01:111:f400:fe1e::1", "Microsoft Exchange Online Protection"),
    ],
)
def test_it_knows_mail_gateways_by_network(session, factory, ip, name):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER, ip=ip)
    flush(session)
    assert stored(session) == [(links["catalog"].id, Verdict.BOT, f"сеть почтового шлюза: {name}")]


def test_the_trap_link_marks_itself_and_its_burst_as_a_scanner(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    click(delivery, TRAP_LINK_ID, LATER + timedelta(seconds=3))
    click(delivery, links["catalog"].id, LATER + timedelta(hours=1))  # the person, later
    flush(session)
    assert stored(session) == [
        (links["catalog"].id, Verdict.BOT, "вместе с переходом по ссылке-ловушке"),
        (None, Verdict.BOT, "переход по скрытой ссылке-ловушке"),
        (links["catalog"].id, Verdict.HUMAN, "переход человека"),
    ]


def test_a_burst_split_across_two_flushes_is_still_one_burst(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    clicks.flush_clicks(session, redis_client(), now=LATER + timedelta(seconds=clicks.SETTLE_SECONDS))
    click(delivery, links["discount"].id, LATER + timedelta(milliseconds=500))
    flush(session)
    assert [v for _, v, _ in stored(session)] == [Verdict.BOT, Verdict.BOT]


def test_a_human_click_writes_one_note_per_link_and_hour(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["discount"].id, LATER)
    click(delivery, links["discount"].id, LATER + timedelta(minutes=5))
    click(delivery, links["discount"].id, LATER + timedelta(minutes=20))
    flush(session)
    click(delivery, links["discount"].id, LATER + timedelta(minutes=30))
    click(delivery, links["catalog"].id, LATER + timedelta(minutes=31))
    click(delivery, links["discount"].id, LATER + timedelta(hours=3))
    flush(session)
    notes = session.query(Note).filter_by(contact_id=delivery.contact_id, kind=NoteKind.CLICK).order_by(Note.created_at).all()
    assert [(n.body, n.created_at) for n in notes] == [
        ("Открыл ссылку «Скидка»", LATER),
        ("Открыл ссылку «Каталог»", LATER + timedelta(minutes=31)),
        ("Открыл ссылку «Скидка»", LATER + timedelta(hours=3)),
    ]
    assert all(n.delivery_id == delivery.id for n in notes)


def test_a_scanner_click_writes_no_note(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["discount"].id, LATER, method="HEAD")
    flush(session)
    assert session.query(Note).count() == 0


def test_a_click_on_a_deleted_delivery_is_dropped(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    session.delete(delivery)
    session.commit()
    assert flush(session) == 0
    assert session.query(Click).count() == 0


def test_a_batch_larger_than_the_batch_size_is_written_whole(session, factory):
    delivery, links = mail(factory, session)
    for minute in range(7):
        click(delivery, links["catalog"].id, LATER + timedelta(minutes=minute))
    assert clicks.flush_clicks(session, redis_client(), now=LATER + timedelta(hours=1), batch_size=3) == 7


def test_a_person_judged_in_an_earlier_flush_stays_a_person(session, factory):
    delivery, links = mail(factory, session)
    click(delivery, links["catalog"].id, LATER)
    clicks.flush_clicks(session, redis_client(), now=LATER + timedelta(seconds=clicks.SETTLE_SECONDS))
    click(delivery, links["catalog"].id, LATER + timedelta(seconds=30))
    flush(session)
    assert [v for _, v, _ in stored(session)] == [Verdict.HUMAN, Verdict.HUMAN]


def test_a_flushed_person_click_shows_on_the_contact_owners_hot_list(session, factory, settings):
    from campaigns import hotlist

    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    delivery, links = mail(factory, session, factory.contact(owner=anna, company="Фаубеха"))
    click(delivery, links["discount"].id, LATER)
    flush(session)
    assert [e.company for e in hotlist.hot_list(session, anna.id, settings, now=LATER + timedelta(hours=1))] == ["Фаубеха"]
    assert hotlist.hot_list(session, igor.id, settings, now=LATER + timedelta(hours=1)) == []
