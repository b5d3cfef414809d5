from __future__ import annotations

import dataclasses
import mailbox

from sqlalchemy import func, select

from campaigns import bounces
from campaigns.models import DeliveryStatus, Note, Suppression, SuppressionReason
from tests.scenes import bounce_report, sent_delivery


def test_it_reads_the_recipient_status_and_original_message_id_of_a_report():
    [bounce] = bounces.parse_report(bounce_report("gone@client.example.com", "<abc@studio.example.com>"))

    assert bounce.recipient == "gone@client.example.com"
    assert (bounce.action, bounce.status) == ("failed", "5.1.1")
    assert bounce.message_id == "<abc@studio.example.com>"
    assert bounce.diagnostic.startswith("550 5.1.1")
    assert bounce.permanent


def test_it_ignores_mail_that_is_not_a_delivery_report():
    assert bounces.parse_report(b"From: a@b.c\r\nSubject: hello\r\n\r\nJust a reply.\r\n") == []


def test_it_fails_and_suppresses_an_unknown_mailbox_reported_later(session, factory):
    delivery = sent_delivery(factory, session, "gone@client.example.com", "<abc@studio.example.com>")

    changed = bounces.process_messages(session, [bounce_report("gone@client.example.com", "<abc@studio.example.com>")])

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
    delivery = sent_delivery(factory, session, "quota@client.example.com", "<other@studio.example.com>")

    bounces.process_messages(
        session, [bounce_report("quota@client.example.com", status="5.2.2", diagnostic="552 5.2.2 Mailbox full")]
    )

    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "552 5.2.2 Mailbox full"
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_it_changes_nothing_for_a_delay_notice(session, factory):
    delivery = sent_delivery(factory, session, "slow@client.example.com", "<slow@studio.example.com>")

    bounces.process_messages(
        session,
        [
            bounce_report(
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
    delivery = sent_delivery(factory, session, "gone@client.example.com", "<abc@studio.example.com>")
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(bounce_report("gone@client.example.com", "<abc@studio.example.com>"))
    settings = dataclasses.replace(settings, bounce_url=f"maildir:{tmp_path / 'bounces'}")

    first = bounces.process_mailbox(session, settings)
    second = bounces.process_mailbox(session, settings)

    session.refresh(delivery)
    assert (first, second) == (1, 0)
    assert delivery.status == DeliveryStatus.FAILED
    assert len(box) == 1  # kept, marked seen
