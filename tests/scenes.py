"""Situations the tests share, ready-made: a delivery due now, a sent mail with tracked links, an
offer with links, the results scene, the audience's paths, a bounce report, an ARF complaint,
an API key, a registered webhook, a CSV file to import; and the dry runs of the RQ queues.

Plain helpers over the `factory`/`session` fixtures; tests import them from here, never from
another test module (tests/test_layout.py checks it).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from rq import Queue, SimpleWorker
from sqlalchemy import select

from campaigns import audience, calendar, config, dispatch, inhand, planner, sending, tasks, webhooks
from campaigns.board import readiness_board
from campaigns.db import db, utcnow
from campaigns.extensions import redis_client
from campaigns.models import (
    Click,
    Delivery,
    DeliveryStatus,
    Link,
    Note,
    NoteKind,
    OfferStatus,
    Role,
    Suppression,
    SuppressionReason,
    Verdict,
    WebhookEndpoint,
)
from campaigns.tracking import click_token
from tests.support import RecordingHandler

# ---------------------------------------------------------------- sending


def smtp_settings(settings, server):
    return dataclasses.replace(
        settings, mail=config.parse_mail_url(server.url, settings.instance_path), relay_rate_per_minute=1000
    )


def due_delivery(factory, session, owner=None, email=None, **contact_kw):
    offer = factory.offer(tag=factory.tag(), subject="Новогодние подарки для {{ company }}")
    offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf", label="Каталог"))
    if email:
        contact_kw["email"] = email
    contact = factory.contact(owner=owner or factory.advisor(), tags=[offer.tag], **contact_kw)
    delivery = Delivery(
        offer=offer,
        contact=contact,
        status=DeliveryStatus.PLANNED,
        send_on=utcnow().date(),
        send_at=utcnow() - timedelta(minutes=1),
    )
    session.add(delivery)
    session.commit()
    return delivery


def reload_delivery(session, delivery_id):
    return session.get(Delivery, delivery_id, populate_existing=True)


def notes_of(session, contact_id, kind=None):
    query = select(Note).where(Note.contact_id == contact_id).order_by(Note.id)
    if kind:
        query = query.where(Note.kind == kind)
    return session.scalars(query).all()


def run_worker(app, settings, monkeypatch):
    """Run the "mail" queue dry with RQ's SimpleWorker, in this process and on the test app."""
    from campaigns.extensions import redis_client

    monkeypatch.setitem(app.config, "SETTINGS", settings)
    monkeypatch.setattr(tasks, "_app", app)
    with app.app_context():
        connection = redis_client()
    SimpleWorker([dispatch.mail_queue(connection)], connection=connection).work(burst=True)
    db.session.remove()


class StallsFirstAnswer(RecordingHandler):
    """Takes every message; answers the first one only after `stall` seconds (3 by default)."""

    def __init__(self, stall: float = 3):
        super().__init__()
        self.stall = stall

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        first = not self.received
        answer = await super().handle_DATA(server, session, envelope)
        if first:
            await asyncio.sleep(self.stall)
        return answer


# ---------------------------------------------------------------- planner

YEAR = 2026


def due_tag(factory, rule="15 jun", lead_days=0, **kw):
    tag = factory.tag(rule=rule, lead_days=lead_days, **kw)
    return tag, calendar.send_date(rule, lead_days, YEAR)


# ---------------------------------------------------------------- contacts


def mail_note(session, contact, html_body):
    msg = EmailMessage()
    msg["From"] = "Анна <anna@studio.ru>"
    msg["To"] = contact.email
    msg["Subject"] = "Подарки к 8 марта"
    msg.set_content("Здравствуйте, Олег!\nКаталог по ссылке.")
    msg.add_alternative(html_body, subtype="html")
    note = Note(
        contact_id=contact.id,
        kind=NoteKind.MAIL,
        subject="Подарки к 8 марта",
        raw_message=msg.as_string(),
        body="Отправлено письмо «Подарки к 8 марта»",
    )
    session.add(note)
    session.flush()
    return note


# ---------------------------------------------------------------- tracking

TRACKED_SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def tracked_mail(factory, session, urls=None):
    """A sent delivery of an offer with links; returns (delivery, {name: link})."""
    offer = factory.offer()
    urls = urls or {"catalog": "https://gifts.example.com/catalog", "discount": "https://gifts.example.com/sale"}
    links = {name: Link(offer=offer, name=name, url=url, label=name.title()) for name, url in urls.items()}
    session.add_all(links.values())
    delivery = Delivery(
        offer=offer, contact=factory.contact(), send_on=TRACKED_SENT.date(), status=DeliveryStatus.SENT, sent_at=TRACKED_SENT
    )
    session.add(delivery)
    session.commit()
    return delivery, links


def click_path(delivery_id, link_id, secret="test-secret"):
    return "/c/" + click_token(delivery_id, link_id, secret)


# ---------------------------------------------------------------- api_keys


def make_key(client, session, user, name="CRM") -> str:
    """A key made the way a person makes it: on the «API-ключи» page."""
    session.commit()
    client.login(user)
    response = client.post_form("/keys/", {"name": name})
    assert response.status_code == 303 and response.headers["Location"].endswith("/keys/")  # POST, redirect, GET
    match = re.search(r'id="new-api-key">([^<]+)<', client.get("/keys/").get_data(as_text=True))
    assert match, "the new key is shown on the page"
    client.post_form("/logout")
    return match.group(1)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- webhooks


def register_webhook(client, session, factory, url, events=("contact.unsubscribed",)) -> WebhookEndpoint:
    """Admin registers the endpoint on the page."""
    admin = factory.advisor(role=Role.ADMIN)
    session.commit()
    client.login(admin)
    response = client.post_form("/admin/webhooks/", {"url": url, "events": list(events)})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    client.post_form("/logout")
    return session.scalar(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc()))


def run_jobs(app, monkeypatch):
    """The "default" queue run dry by RQ's SimpleWorker, in this process and on the test app."""
    monkeypatch.setattr(tasks, "_app", app)
    with app.app_context():
        connection = redis_client()
    SimpleWorker([Queue(webhooks.QUEUE, connection=connection)], connection=connection).work(burst=True)


# ---------------------------------------------------------------- results

RESULTS_SENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def build_results(session, factory):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    builders, medics = factory.tag("Строители"), factory.tag("Медики")
    offer_b, offer_m = factory.offer(tag=builders, year=2026), factory.offer(tag=medics, year=2026)
    old = factory.offer(tag=builders, year=2025)
    link = Link(offer=offer_b, name="discount", url="https://g.example.com/d", label="Скидка", weight=3)
    session.add(link)

    def delivery(offer, owner, status=DeliveryStatus.SENT, sender=True):
        d = Delivery(
            offer=offer,
            contact=factory.contact(owner=owner),
            send_on=date(offer.year, 3, 2),
            status=status,
            advisor=owner if sender and status == DeliveryStatus.SENT else None,
            sent_at=RESULTS_SENT if status == DeliveryStatus.SENT else None,
        )
        session.add(d)
        session.flush()
        return d

    def click(d, verdict, minutes):
        session.add(
            Click(
                delivery=d,
                link=link,
                contact_id=d.contact_id,
                clicked_at=RESULTS_SENT + timedelta(minutes=minutes),
                verdict=verdict,
                reason="test",
            )
        )

    b1, b2, b3 = delivery(offer_b, anna), delivery(offer_b, anna), delivery(offer_b, igor)
    delivery(offer_b, igor, DeliveryStatus.FAILED)
    delivery(offer_b, anna, DeliveryStatus.PLANNED)
    click(b1, Verdict.HUMAN, 60)
    click(b1, Verdict.HUMAN, 90)
    click(b1, Verdict.BOT, 0)
    click(b2, Verdict.BOT, 0)
    click(b3, Verdict.HUMAN, 120)
    session.add(Note(contact_id=b2.contact_id, kind=NoteKind.UNSUBSCRIBE, body="Отписался", delivery_id=b2.id))
    delivery(offer_m, igor)
    delivery(old, anna)
    session.commit()
    return anna, igor


def as_tuples(rows):
    return {r.label: (r.planned, r.sent, r.failed, r.human_clicks, r.bot_clicks, r.clickers, r.unsubscribes) for r in rows}


# ---------------------------------------------------------------- audience

AUDIENCE_RULE = "15 jun"


AUDIENCE_DAY = calendar.send_date(AUDIENCE_RULE, 0, YEAR)


def audience_offer(factory):
    """A tag due on AUDIENCE_DAY and its ready offer (the contacts come from the test)."""
    tag = factory.tag(rule=AUDIENCE_RULE, lead_days=0)
    offer = factory.offer(tag=tag, year=YEAR)
    offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
    return tag, offer


def audience_scene(factory, session, fields):
    tag, offer = audience_offer(factory)
    contact = factory.contact(owner=factory.advisor(), tags=[tag], **fields)
    if contact.email == "blocked@client.example.com":
        session.add(Suppression(email=contact.email, reason=SuppressionReason.BOUNCE))
    session.flush()
    return tag, offer, contact


def audience_on_board(session, settings, tag, offer, contact):
    rows = readiness_board(session, settings, AUDIENCE_DAY - timedelta(days=5))
    return next(row for row in rows if row.tag.id == tag.id).audience == 1


def audience_planned(session, settings, tag, offer, contact):
    planner.plan_day(session, AUDIENCE_DAY, settings)
    return session.scalar(select(Delivery.id).where(Delivery.contact_id == contact.id)) is not None


def audience_sent(session, settings, tag, offer, contact):
    # Planned while it could be mailed; the contact's state is the one found at the claim.
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.PLANNED, send_on=AUDIENCE_DAY, send_at=utcnow() - timedelta(minutes=1)
    )
    session.add(delivery)
    session.commit()
    result = sending.send_delivery(session, delivery.id, settings, rate_limit=False)
    return result.outcome == sending.Outcome.SENT


def audience_query(session, settings, tag, offer, contact):
    return session.scalars(audience.tag_audience(tag.id)).all() == [contact.id]


AUDIENCE_PATHS = {"board": audience_on_board, "planner": audience_planned, "sending": audience_sent, "query": audience_query}


# ---------------------------------------------------------------- hotlist


class Mailing:
    """One offer with a catalog (weight 1) and a discount (weight 3) link."""

    def __init__(self, session, factory):
        self.session, self.factory = session, factory
        self.offer = factory.offer()
        self.catalog = Link(offer=self.offer, name="catalog", url="https://g.example.com/c", label="Каталог", weight=1)
        self.discount = Link(offer=self.offer, name="discount", url="https://g.example.com/d", label="Скидка", weight=3)
        session.add_all([self.catalog, self.discount])
        session.flush()

    def click(self, contact, link, ago, verdict=Verdict.HUMAN):
        delivery = self.session.query(Delivery).filter_by(offer_id=self.offer.id, contact_id=contact.id).first()
        if delivery is None:
            delivery = Delivery(
                offer=self.offer,
                contact=contact,
                send_on=date(2026, 11, 1),
                status=DeliveryStatus.SENT,
                sent_at=utcnow() - timedelta(days=30),
            )
            self.session.add(delivery)
        self.session.add(
            Click(delivery=delivery, link=link, contact=contact, clicked_at=utcnow() - ago, verdict=verdict, reason="test")
        )
        self.session.flush()


# ---------------------------------------------------------------- bounces

BOUNCE_REPORT = """\
From: Mail Delivery System <MAILER-DAEMON@relay.example.net>
To: anna@studio.example.com
Subject: Undelivered Mail Returned to Sender
Date: Mon, 15 Jun 2026 10:12:00 +0300
Message-ID: <bounce-1@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.example.net. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
Arrival-Date: Mon, 15 Jun 2026 10:11:58 +0300

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.client.example.com
Diagnostic-Code: smtp; {diagnostic}

--BOUNDARY
Content-Type: text/rfc822-headers

From: =?utf-8?b?0JDQvdC90LA=?= <anna@studio.example.com>
To: {recipient}
Subject: Offer
Message-ID: {message_id}

--BOUNDARY--
"""


def bounce_report(
    recipient,
    message_id="<none@studio.example.com>",
    action="failed",
    status="5.1.1",
    diagnostic="550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table",
):
    return (
        BOUNCE_REPORT.format(recipient=recipient, message_id=message_id, action=action, status=status, diagnostic=diagnostic)
        .replace("\n", "\r\n")
        .encode()
    )


def sent_delivery(factory, session, email, message_id):
    offer = factory.offer()
    contact = factory.contact(email=email)
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.SENT, send_on=utcnow().date(), sent_at=utcnow(), message_id=message_id
    )
    session.add(delivery)
    session.commit()
    return delivery


# ---------------------------------------------------------------- consent

ARF = """\
From: feedback@fbl.mail.example
To: abuse@studio.example.com
Subject: complaint about message
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="PART"

--PART
Content-Type: text/plain

This is an email abuse report.

--PART
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
Original-Rcpt-To: {recipient}

--PART
Content-Type: text/rfc822-headers

From: anna@studio.example.com
To: {recipient}
Subject: Offer
Message-ID: {message_id}

--PART--
"""


# ---------------------------------------------------------------- offers

GOOD_BODY = (
    "{{ greeting }}\n\nВаш каталог: {{ links.catalog }}\nСкидка: {{ links.discount }}\n\n"
    "{{ advisor.signature }}\n\nОтписаться: {{ unsubscribe_url }}\n"
)


def offer_with_links(factory, **kw):
    kw.setdefault("subject", "Подарки для {{ company }}")
    kw.setdefault("body", GOOD_BODY)
    kw.setdefault("status", OfferStatus.DRAFT)
    links = kw.pop(
        "links", [("catalog", "https://gifts.example.com/catalog", 1), ("discount", "https://gifts.example.com/скидка?code=A", 3)]
    )
    offer = factory.offer(year=kw.pop("year", 2027), **kw)
    offer.links = [Link(name=name, url=url, label=name, weight=weight) for name, url, weight in links]
    factory.session.flush()
    return offer


def marketing_user(factory):
    return factory.advisor(role=Role.MARKETING, name="Мария Маркетолог", email="maria@studio.example.com")


# ---------------------------------------------------------------- importer


def write_csv(tmp_path, rows, *, name="contacts.csv", encoding="utf-8", delimiter=",", bom=False):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def upload_import(client, text: str, name: str = "contacts.csv", encoding: str = "utf-8", **fields):
    """Upload a file on the import page (the client logged in): the answer redirects to its preview."""
    data = {"file": (io.BytesIO(text.encode(encoding)), name), **fields}
    return client.post_form("/imports/", data, content_type="multipart/form-data")


def import_id_of(response) -> str:
    """The import's id from the upload's redirect."""
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def settled_redis() -> None:
    """Wait until the run's Redis has been up for inhand.SETTLE seconds: before that the reconciler
    cannot tell a live worker's hand from a dead one's and touches no row that may be sending."""
    uptime = int(redis_client().info("server")["uptime_in_seconds"])
    time.sleep(max(0, inhand.SETTLE - uptime + 1))
