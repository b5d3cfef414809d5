"""The inbound mailbox read over IMAP from a real server (the private Dovecot, tests/dovecot.py)."""
from __future__ import annotations

import dataclasses

from campaigns import bounces
from campaigns.models import DeliveryStatus
from tests.test_bounces import _sent, report


def test_a_bounce_report_in_an_imap_mailbox_fails_its_delivery_once_and_stays_in_the_mailbox(
        session, factory, settings, imap_account):
    delivery = _sent(factory, session, "gone@client.example.com", "<abc@studio.example.com>")
    imap_account.deliver(report("gone@client.example.com", "<abc@studio.example.com>"))
    settings = dataclasses.replace(settings, bounce_url=imap_account.url())

    first = bounces.process_mailbox(session, settings)
    second = bounces.process_mailbox(session, settings)

    session.refresh(delivery)
    assert (first, second) == (1, 0)
    assert delivery.status == DeliveryStatus.FAILED
    [(flags, raw)] = imap_account.messages()
    assert b"\\Seen" in flags and b"Undelivered Mail" in raw
