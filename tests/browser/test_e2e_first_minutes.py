"""The README's «First five minutes», in a real browser: the demo's mails go out at once, whatever
the hour; a person opens one, clicks its link, and the contact is on Anna's hot list."""

from __future__ import annotations

import contextlib
import email
import mailbox
import re
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy

import pytest
from sqlalchemy import select, update

from campaigns import clicks, demo, dispatch, sending
from campaigns.extensions import redis_client
from campaigns.models import Advisor, Click, Delivery, DeliveryStatus, Verdict
from tests.browser.support import log_in, screenshot

pytestmark = pytest.mark.browser


def test_the_demo_mails_go_out_now_and_a_click_puts_the_contact_on_the_hot_list(
    page, browser, live_server, session, settings, expect
):
    from playwright.sync_api import Error as PlaywrightError

    demo.load(session, settings)
    session.commit()
    # Whatever the hour: the demo's mailing is due now, and its mails already have their moment.
    first = demo.prepare_first_mails(session, settings)
    session.commit()
    assert len(first) == demo.FIRST_MAILS
    outbox = mailbox.Maildir(settings.mail.path, create=True)
    outbox.clear()
    assert dispatch.dispatch(session, settings, queue=dispatch.mail_queue(redis_client())) == demo.FIRST_MAILS
    results, _later, _wait = sending.send_batch(session, [d.id for d in first], settings)
    assert [r.outcome for r in results] == [sending.Outcome.SENT] * demo.FIRST_MAILS
    assert len(outbox) == demo.FIRST_MAILS

    # The person opens one mail a few minutes later (a click seconds after delivery is a scanner's).
    session.execute(
        update(Delivery).where(Delivery.id.in_([d.id for d in first])).values(sent_at=datetime.now(UTC) - timedelta(minutes=5))
    )
    session.commit()
    mail = email.message_from_bytes(outbox.get_bytes(next(iter(outbox.keys()))), policy=default_policy)
    text = mail.get_body(("plain",)).get_content()
    catalog_link = re.search(r"https://campaigns\.example\.com(/c/\S+)", text).group(1)
    # Not logged in (a colleague's click does not count), and a browser that says what a person's says
    # (a headless one is taken for a mail gateway's scanner).
    person = browser.new_context(
        locale="ru-RU",
        user_agent=("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    )
    tab = person.new_page()
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    with contextlib.suppress(PlaywrightError):  # gifts.example.com does not resolve here; the redirect is what counts
        tab.goto(live_server + catalog_link)
    person.close()
    assert any(url.startswith("https://gifts.example.com/catalog/") for url in requested), requested
    clicks.flush_clicks(session, redis_client(), now=datetime.now(UTC) + timedelta(seconds=clicks.SETTLE_SECONDS + 1))

    session.expire_all()
    delivery = session.scalar(select(Delivery).where(Delivery.message_id == mail["Message-ID"]))
    assert delivery.status == DeliveryStatus.SENT
    contact = delivery.contact
    verdicts = session.execute(select(Click.verdict, Click.reason).where(Click.delivery_id == delivery.id)).all()
    assert [verdict for verdict, _reason in verdicts] == [Verdict.HUMAN], verdicts
    anna = session.scalar(select(Advisor).where(Advisor.email == demo.FIRST_MAILS_OWNER))
    log_in(page, anna, demo.DEMO_PASSWORD)
    page.goto("/hot/")
    entry = page.locator(".hot-list tr", has_text=contact.last_name).filter(has_text=contact.company)
    expect(entry.first).to_be_visible()
    assert page.js_errors == []
    screenshot(page, "first-minutes-hot-list")
