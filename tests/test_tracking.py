"""/c/<token>: signed tokens, exact redirects, no open redirect, clicks through Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from campaigns import clicks
from campaigns.extensions import redis_client
from campaigns.models import Click, Delivery, DeliveryStatus, Link
from campaigns.tracking import TRAP_LINK_ID, browser_uri, click_token, click_url, parse_click_token
from campaigns.web.track import click_redis
from tests.scenes import TRACKED_SENT, click_path, marketing_user, offer_with_links, tracked_mail


@pytest.fixture(autouse=True)
def _fresh_cache():
    clicks.forget_cached_targets()
    yield
    clicks.forget_cached_targets()


def queued():
    return [json.loads(raw) for raw in redis_client().lrange(clicks.QUEUE_KEY, 0, -1)]


def test_it_redirects_to_the_stored_url_and_queues_the_click(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    response = client.get(click_path(delivery.id, links["discount"].id), headers={"User-Agent": "Mozilla/5.0 Firefox/130.0"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://gifts.example.com/sale"
    [event] = queued()
    assert (event["d"], event["l"], event["m"]) == (delivery.id, links["discount"].id, "GET")
    assert event["ua"] == "Mozilla/5.0 Firefox/130.0"
    assert session.query(Click).count() == 0  # written later, in a batch


def test_a_logged_in_colleague_following_a_link_is_not_counted_as_the_client(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    client.login(delivery.contact.owner)
    response = client.get(click_path(delivery.id, links["discount"].id))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://gifts.example.com/sale"
    assert queued() == []


def test_click_url_builds_the_public_link(app):
    with app.app_context():
        url = click_url("https://campaigns.example.com", 12345, 6)
    assert url.startswith("https://campaigns.example.com/c/")
    assert len(url.rsplit("/", 1)[1]) <= 24  # short enough for any mail client
    assert parse_click_token(url.rsplit("/", 1)[1], "test-secret") == (12345, 6)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="last-char-changed"),
        pytest.param(lambda t: ("9" if t[0] != "9" else "8") + t[1:], id="delivery-changed"),
        pytest.param(lambda t: t[:-3], id="truncated"),
        pytest.param(lambda t: t.split(".")[0], id="signature-missing"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_it_answers_404_for_an_altered_token(client, session, factory, mangle):
    delivery, links = tracked_mail(factory, session)
    token = click_token(delivery.id, links["catalog"].id, "test-secret")
    response = client.get("/c/" + mangle(token))
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "Ссылка не найдена" in response.get_data(as_text=True)
    assert queued() == []


def test_it_answers_404_for_a_token_signed_with_another_secret(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    response = client.get(click_path(delivery.id, links["catalog"].id, secret="someone-else"))
    assert response.status_code == 404 and "Location" not in response.headers


def test_it_answers_404_for_a_link_of_another_offer(client, session, factory):
    delivery, _ = tracked_mail(factory, session)
    _, other_links = tracked_mail(factory, session, {"evil": "https://evil.example.net/"})
    response = client.get(click_path(delivery.id, other_links["evil"].id))
    assert response.status_code == 404 and "Location" not in response.headers
    assert queued() == []


def test_it_answers_404_for_an_unknown_delivery_or_link(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    assert client.get(click_path(delivery.id + 1000, links["catalog"].id)).status_code == 404
    assert client.get(click_path(delivery.id, 987654)).status_code == 404


def test_the_trap_link_redirects_nowhere_but_is_recorded(client, session, factory):
    delivery, _ = tracked_mail(factory, session)
    response = client.get(click_path(delivery.id, TRAP_LINK_ID))
    assert response.status_code == 404 and "Location" not in response.headers
    assert [e["l"] for e in queued()] == [TRAP_LINK_ID]


TRICKY = [
    # (stored URL, what a browser requests for it — the WHATWG URL Standard, written out by hand)
    ("https://shop.example.com/a?x=1&y=2%2F3&z=a+b&empty=#part-2", "https://shop.example.com/a?x=1&y=2%2F3&z=a+b&empty=#part-2"),
    ("https://shop.example.com/p?q=100%&ids[]=1|2", "https://shop.example.com/p?q=100%&ids[]=1|2"),
    (
        "https://gifts.example.com/скидка?code=DEMO#условия",
        "https://gifts.example.com/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0?code=DEMO#%D1%83%D1%81%D0%BB%D0%BE%D0%B2%D0%B8%D1%8F",
    ),
    (
        "https://gifts.example.com/catalog?q=новый год&utm=1",
        "https://gifts.example.com/catalog?q=%D0%BD%D0%BE%D0%B2%D1%8B%D0%B9%20%D0%B3%D0%BE%D0%B4&utm=1",
    ),
    ("https://подарки.рф/каталог?x=1#top", "https://xn--80ahnhrfk.xn--p1ai/%D0%BA%D0%B0%D1%82%D0%B0%D0%BB%D0%BE%D0%B3?x=1#top"),
    ("https://shop.example.com:8443/a%20b?c=%D0%B0", "https://shop.example.com:8443/a%20b?c=%D0%B0"),
]


@pytest.mark.parametrize("stored, expected", TRICKY)
def test_the_redirect_target_is_exactly_what_the_browser_would_open(client, session, factory, stored, expected):
    delivery, links = tracked_mail(factory, session, {"x": stored})
    response = client.get(click_path(delivery.id, links["x"].id))
    assert response.status_code == 302
    assert response.headers["Location"] == expected
    assert browser_uri(stored) == expected


def test_an_ascii_url_is_sent_byte_for_byte(client, session, factory):
    stored = "https://Shop.Example.com/A/b;c?d=%41&e=f+g&h=i%zz&j=[k]{l}^#m?n&o"
    delivery, links = tracked_mail(factory, session, {"x": stored})
    raw = client.get(click_path(delivery.id, links["x"].id))
    assert raw.headers["Location"] == stored


def test_the_redirect_works_from_the_cache_when_the_row_changed_under_it(client, session, factory):
    # A second click is answered from the in-process cache: no database read on the hot path.
    delivery, links = tracked_mail(factory, session)
    assert client.get(click_path(delivery.id, links["catalog"].id)).status_code == 302
    session.execute(Link.__table__.update().values(url="https://changed.example.com/"))
    session.commit()
    assert client.get(click_path(delivery.id, links["catalog"].id)).headers["Location"] == "https://gifts.example.com/catalog"
    clicks.forget_cached_targets()
    assert client.get(click_path(delivery.id, links["catalog"].id)).headers["Location"] == "https://changed.example.com/"


def test_clicks_reach_the_database_after_a_flush_and_not_before(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    client.get(click_path(delivery.id, links["catalog"].id), headers={"User-Agent": "Mozilla/5.0 Firefox/130.0"})
    assert session.query(Click).count() == 0
    now = datetime.now(UTC)
    # Too fresh: kept back until its burst has settled.
    assert clicks.flush_clicks(session, redis_client(), now=now) == 0
    assert session.query(Click).count() == 0 and len(queued()) == 1
    assert clicks.flush_clicks(session, redis_client(), now=now + timedelta(seconds=clicks.SETTLE_SECONDS + 1)) == 1
    [click] = session.query(Click).all()
    assert (click.delivery_id, click.link_id, click.contact_id, click.method) == (
        delivery.id,
        links["catalog"].id,
        delivery.contact_id,
        "GET",
    )
    assert queued() == []


def test_a_head_request_is_answered_and_recorded_as_head(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    response = client.head(click_path(delivery.id, links["catalog"].id))
    assert response.status_code == 302
    assert [e["m"] for e in queued()] == ["HEAD"]


def test_a_visitor_with_a_session_but_not_logged_in_is_counted(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    client.csrf_token("/login")  # the log-in page gives this browser a session cookie, but nobody logged in
    assert client.get(click_path(delivery.id, links["catalog"].id)).status_code == 302
    assert len(queued()) == 1


def test_a_forged_session_cookie_does_not_hide_a_click(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    client.raw.set_cookie("session", '{"_user_id": "1"}')
    assert client.get(click_path(delivery.id, links["catalog"].id)).status_code == 302
    assert len(queued()) == 1


def test_a_click_sets_no_cookie_and_the_404_page_neither(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    assert "Set-Cookie" not in client.get(click_path(delivery.id, links["catalog"].id)).headers
    response = client.get("/c/not-a-token")
    assert response.status_code == 404 and "Set-Cookie" not in response.headers
    assert "Ссылка не найдена" in response.get_data(as_text=True)


def test_a_head_on_a_forged_token_is_a_404_without_a_body(client):
    response = client.head("/c/forged.token")
    assert response.status_code == 404 and "Location" not in response.headers
    assert response.get_data() == b""


def test_a_post_to_a_click_link_is_refused_and_not_recorded(client, session, factory):
    delivery, links = tracked_mail(factory, session)
    response = client.raw.post(click_path(delivery.id, links["catalog"].id))
    assert response.status_code == 405 and "Location" not in response.headers
    assert queued() == []


def test_the_person_is_redirected_at_once_even_when_redis_is_down(app, client, session, factory, tmp_root, monkeypatch):
    delivery, links = tracked_mail(factory, session)
    monkeypatch.setitem(app.extensions, "campaigns_click_redis", click_redis(f"unix://{tmp_root}/no-redis.sock"))
    started = time.monotonic()
    response = client.get(click_path(delivery.id, links["discount"].id))
    assert response.status_code == 302 and response.headers["Location"] == "https://gifts.example.com/sale"
    assert time.monotonic() - started < 1  # redis-py's default retries would keep the person waiting for seconds


def test_other_pages_still_go_through_flask(client):
    assert client.get("/u/forged").status_code == 404
    assert client.get("/login").status_code == 200


# ------------------------------------------------------------- the database away

FIREFOX_UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"}


def test_a_link_of_an_offer_made_ready_redirects_and_queues_the_click_while_the_database_is_down(
    app, client, session, factory, settings, tmp_path
):
    from tests.support import database_gone

    offer = offer_with_links(factory)
    delivery = Delivery(
        offer=offer, contact=factory.contact(), send_on=TRACKED_SENT.date(), status=DeliveryStatus.SENT, sent_at=TRACKED_SENT
    )
    session.add(delivery)
    session.commit()
    discount = next(link for link in offer.links if link.name == "discount")
    client.login(marketing_user(factory))
    assert client.post_form(f"/offers/{offer.id}/ready").status_code == 302
    clicks.forget_cached_targets()  # a web process that has never seen this mail

    with database_gone(settings, tmp_path), app.test_client() as person:
        response = person.get(click_path(delivery.id, discount.id), headers=FIREFOX_UA)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://gifts.example.com/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0?code=A"
    assert [(e["d"], e["l"]) for e in queued()] == [(delivery.id, discount.id)]


def test_every_planning_run_copies_the_link_targets_for_the_redirect(
    app, client, session, factory, settings, tmp_path, monkeypatch
):
    from campaigns import tasks
    from tests.support import database_gone

    delivery, links = tracked_mail(factory, session)
    redis_client().flushall()  # Redis lost everything; the next planning run writes the copy again
    monkeypatch.setattr(tasks, "_app", app)
    tasks.plan_deliveries()

    with database_gone(settings, tmp_path):
        response = client.get(click_path(delivery.id, links["catalog"].id), headers=FIREFOX_UA)
        trap = client.get(click_path(delivery.id, TRAP_LINK_ID), headers=FIREFOX_UA)
    assert response.status_code == 302 and response.headers["Location"] == "https://gifts.example.com/catalog"
    assert trap.status_code == 404
    assert len(queued()) == 2


def test_a_link_nobody_can_look_up_while_the_database_is_down_gets_a_russian_page_not_an_error(
    client, session, factory, settings, tmp_path
):
    from tests.support import database_gone

    delivery, links = tracked_mail(factory, session)  # never copied to Redis
    with database_gone(settings, tmp_path):
        response = client.get(click_path(delivery.id, links["catalog"].id), headers=FIREFOX_UA)
    assert response.status_code == 503
    assert "Ссылка временно недоступна" in response.get_data(as_text=True)
    assert len(queued()) == 1  # the flush judges it once the database is back
