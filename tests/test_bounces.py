from __future__ import annotations

import dataclasses
import mailbox

from sqlalchemy import func, select

from campaigns import bounces
from campaigns.db import utcnow
from campaigns.models import Delivery, DeliveryStatus, Note, Suppression, SuppressionReason

REPORT = """\
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


def report(
    recipient,
    message_id="<none@studio.example.com>",
    action="failed",
    status="5.1.1",
    diagnostic="550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table",
):
    return (
        REPORT.format(recipient=recipient, message_id=message_id, action=action, status=status, diagnostic=diagnostic)
        .replace("\n", "\r\n")
        .encode()
    )


def _sent(factory, session, email, message_id):
    offer = factory.offer()
    contact = factory.contact(email=email)
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.SENT, send_on=utcnow().date(), sent_at=utcnow(), message_id=message_id
    )
    session.add(delivery)
    session.commit()
    return delivery


def test_it_reads_the_recipient_status_and_original_message_id_of_a_report():
    [bounce] = bounces.parse_report(report("gone@client.example.com", "<abc@studio.example.com>"))

    assert bounce.recipient == "gone@client.example.com"
    assert (bounce.action, bounce.status) == ("failed", "5.1.1")
    assert bounce.message_id == "<abc@studio.example.com>"
    assert bounce.diagnostic.startswith("550 5.1.1")
    assert bounce.permanent


def test_it_ignores_mail_that_is_not_a_delivery_report():
    assert bounces.parse_report(b"From: a@b.c\r\nSubject: hello\r\n\r\nJust a reply.\r\n") == []


def test_it_fails_and_suppresses_an_unknown_mailbox_reported_later(session, factory):
    delivery = _sent(factory, session, "gone@client.example.com", "<abc@studio.example.com>")

    changed = bounces.process_messages(session, [report("gone@client.example.com", "<abc@studio.example.com>")])

    session.refresh(delivery)
    assert changed == 1
    assert delivery.status == DeliveryStatus.FAILED
    assert "User unknown" in delivery.last_error
    assert (
        session.scalar(select(Suppression.reason).where(Suppression.email == "gone@client.example.com"))
        == SuppressionReason.BOUNCE
    )
    assert session.scalar(select(func.count()).select_from(Note).where(Note.contact_id == delivery.contact_id)) == 2


def test_it_matches_by_recipient_when_the_original_is_missing(session, factory):
    delivery = _sent(factory, session, "quota@client.example.com", "<other@studio.example.com>")

    bounces.process_messages(session, [report("quota@client.example.com", status="5.2.2", diagnostic="552 5.2.2 Mailbox full")])

    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "552 5.2.2 Mailbox full"
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_it_changes_nothing_for_a_delay_notice(session, factory):
    delivery = _sent(factory, session, "slow@client.example.com", "<slow@studio.example.com>")

    bounces.process_messages(
        session,
        [
            report(
                "slow@client.example.com",
                "<slow@studio.example.com>",
                action="delayed",
                status="4.4.1",
                diagnostic="451 4.4.1 Timeout",
            )
        ],
    )

    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.SENT


def test_it_reads_each_report_of_a_maildir_once(session, factory, settings, tmp_path):
    delivery = _sent(factory, session, "gone@client.example.com", "<abc@studio.example.com>")
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(report("gone@client.example.com", "<abc@studio.example.com>"))
    settings = dataclasses.replace(settings, bounce_url=f"maildir:{tmp_path / 'bounces'}")

    first = bounces.process_mailbox(session, settings)
    second = bounces.process_mailbox(session, settings)

    session.refresh(delivery)
    assert (first, second) == (1, 0)
    assert delivery.status == DeliveryStatus.FAILED
    assert len(box) == 1  # kept, marked seen
