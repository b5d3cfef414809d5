"""Every way a contact stops receiving mail (campaigns/consent.py) does the same two things:
the mail still pending to it is cancelled, and the address is on the stop list once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from campaigns import bounces, consent
from campaigns.models import Contact, Delivery, DeliveryStatus, Note, NoteKind, Suppression, SuppressionReason
from campaigns.tracking import unsubscribe_token
from tests.scenes import ARF, bounce_report

SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EMAIL = "oleg@faubeha.example.ru"


def _setup(session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna, email=EMAIL)
    sent = Delivery(
        offer=factory.offer(subject="Новогодний каталог"),
        contact=contact,
        send_on=SENT.date(),
        status=DeliveryStatus.SENT,
        sent_at=SENT,
        message_id="<m1@studio.example.com>",
    )
    pending = [
        Delivery(offer=factory.offer(), contact=contact, send_on=date(2027, 3, 1), status=status) for status in consent.PENDING
    ]
    other = Delivery(offer=factory.offer(), contact=factory.contact(), send_on=date(2027, 3, 1))
    session.add_all([sent, other, *pending])
    session.commit()
    return anna, contact, sent, pending, other


def _link(client, session, anna, sent):
    client.post("/u/" + unsubscribe_token(sent.id, "test-secret"))


def _one_click(client, session, anna, sent):
    client.post(
        "/u/" + unsubscribe_token(sent.id, "test-secret"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )


def _advisor(how):
    def path(client, session, anna, sent):
        if not getattr(client, "logged_in", False):
            client.login(anna)
            client.logged_in = True
        response = client.post_form(f"/contacts/{sent.contact_id}/unsubscribe", {"how": how, "reason": "просил"})
        assert response.status_code == 302

    return path


def _bounce(client, session, anna, sent):
    bounces.process_messages(session, [bounce_report(EMAIL, sent.message_id)])


def _mailto(client, session, anna, sent):
    # What a mail client sends to the List-Unsubscribe mailto address, read from BOUNCE_URL's mailbox.
    raw = (
        f"From: {EMAIL}\r\nTo: unsubscribe@campaigns.example.com\r\n"
        f"Subject: unsubscribe {unsubscribe_token(sent.id, 'test-secret')}\r\n\r\n\r\n"
    ).encode()
    bounces.process_messages(session, [raw])


def _complaint(client, session, anna, sent):
    raw = ARF.format(recipient=EMAIL, message_id=sent.message_id).replace("\n", "\r\n").encode()
    bounces.process_messages(session, [raw])


PATHS = {
    "link": (_link, SuppressionReason.UNSUBSCRIBE, True),
    "one-click": (_one_click, SuppressionReason.UNSUBSCRIBE, True),
    "mailto": (_mailto, SuppressionReason.UNSUBSCRIBE, True),
    "advisor": (_advisor(consent.BY_LETTER), SuppressionReason.MANUAL, True),
    "phone": (_advisor(consent.BY_PHONE), SuppressionReason.MANUAL, True),
    "bounce": (_bounce, SuppressionReason.BOUNCE, False),
    "complaint": (_complaint, SuppressionReason.COMPLAINT, True),
}


def _state(session, contact):
    session.expire_all()
    return (
        session.get(Contact, contact.id).unsubscribed_at,
        session.query(Suppression).count(),
        session.query(Note).filter_by(contact_id=contact.id).count(),
    )


@pytest.mark.parametrize("name", PATHS)
def test_every_way_of_stopping_cancels_pending_mail_and_writes_the_stop_list_once(client, session, factory, name):
    act, reason, marks_contact = PATHS[name]
    anna, contact, sent, pending, other = _setup(session, factory)

    act(client, session, anna, sent)

    session.expire_all()
    assert {session.get(Delivery, d.id).status for d in pending} == {DeliveryStatus.CANCELLED}
    assert session.get(Delivery, other.id).status == DeliveryStatus.PLANNED
    [row] = session.query(Suppression).all()
    assert (row.email, row.reason) == (EMAIL, reason)
    assert (session.get(Contact, contact.id).unsubscribed_at is not None) == marks_contact
    if marks_contact:
        [note] = session.query(Note).filter_by(contact_id=contact.id, kind=NoteKind.UNSUBSCRIBE).all()
        assert "Отменено запланированных писем: 4" in note.body

    before = _state(session, contact)
    act(client, session, anna, sent)
    assert _state(session, contact) == before  # a repeat changes nothing and adds no note


@pytest.mark.parametrize("name", PATHS)
def test_a_second_way_after_another_adds_nothing_and_does_not_fail(client, session, factory, name):
    act, _reason, _marks = PATHS[name]
    anna, contact, sent, pending, _ = _setup(session, factory)
    consent.suppress(session, EMAIL.upper(), SuppressionReason.BOUNCE, "раньше")
    session.commit()
    act(client, session, anna, sent)
    session.expire_all()
    assert session.query(Suppression).count() == 1
    assert {session.get(Delivery, d.id).status for d in pending} == {DeliveryStatus.CANCELLED}


def test_a_mail_with_a_forged_token_unsubscribes_nobody(session, factory):
    _anna, contact, sent, pending, _ = _setup(session, factory)
    raw = f"Subject: unsubscribe {unsubscribe_token(sent.id, 'another-key')}\r\n\r\n".encode()
    assert bounces.process_messages(session, [raw]) == 0
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is None
    assert {session.get(Delivery, d.id).status for d in pending} == set(consent.PENDING)
