"""The demo data set shows every page something real."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email import policy as email_policy

from sqlalchemy import func, select

from campaigns import compose, demo
from campaigns.greeting import FALLBACK
from campaigns.models import Advisor, Click, Contact, Delivery, DeliveryStatus, Note, NoteKind, Offer, Role, Tag, Verdict
from campaigns.sender import sender_for
from campaigns.transport import open_transport

NOW = datetime(2026, 8, 3, 7, 15, tzinfo=UTC)
GREETING_SHAPE = re.compile(r"Здравствуйте, [А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?(?: [А-ЯЁ][а-яё]+)?!")


def _body(message, kind: str) -> str:
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")


def test_the_demo_loads_advisors_contacts_offers_and_history_once(session, settings):
    assert not demo.has_data(session)
    summary = demo.load(session, settings)
    session.commit()
    assert demo.has_data(session)

    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    assert count(Tag) == 23
    assert session.scalar(select(func.count()).where(Advisor.role == Role.ADVISOR, Advisor.is_house.is_(False))) == 3
    assert session.scalar(select(Advisor.name).where(Advisor.is_house)) == "Василий Тупин"
    assert 250 <= count(Contact) <= 350
    assert count(Offer) == 23
    assert count(Delivery) > 100 and count(Click) > 10
    assert session.scalar(select(func.count()).where(Click.verdict == Verdict.BOT)) > 0
    assert session.scalar(select(func.count()).where(Note.kind == NoteKind.MAIL)) == count(Delivery)
    assert "300 contacts" in summary

    # The awkward first names from the seeds are there.
    first_names = set(session.scalars(select(Contact.first_name)))
    assert "!" in first_names
    assert any(len(name.split()) == 3 for name in first_names)  # a whole ФИО in the first-name field
    assert any(name.isupper() for name in first_names if name != "!")

    # Every mail note opens the real letter, with the Message-ID the delivery recorded.
    note = session.scalars(select(Note).where(Note.kind == NoteKind.MAIL).limit(1)).one()
    delivery = session.get(Delivery, note.delivery_id)
    assert f"Message-ID: {delivery.message_id}" in note.raw_message


def test_the_demo_mails_parse_back_greet_safely_and_arrive_intact(session, settings, smtp_server):
    # demo.load composes every sent delivery's mail (build_offer_message) into its note.
    demo.load(session, settings)
    notes = session.scalars(select(Note).where(Note.kind == NoteKind.MAIL).order_by(Note.id)).all()
    assert len(notes) > 100 and all(note.raw_message for note in notes)

    for note in notes:
        back = message_from_string(note.raw_message, policy=email_policy.default)
        contact = note.contact
        assert back["From"].addresses[0].addr_spec == contact.owner.email
        assert back["From"].addresses[0].display_name == contact.owner.name
        assert back["To"].addresses[0].addr_spec == contact.email
        assert back["Subject"] == note.subject
        assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert [p.get_content_type() for p in back.iter_parts()] == ["text/plain", "text/html"]
        text = _body(back, "plain")
        first_line = text.split("\n", 1)[0]
        assert first_line == FALLBACK or GREETING_SHAPE.fullmatch(first_line), first_line
        assert not contact.last_name or contact.last_name not in first_line
        assert "None" not in text and "Если вы не хотите получать такие письма" in text
        assert _body(back, "html").count("<a href=") == 4  # catalog, discount, unsubscribe, the hidden trap

    deliveries = session.scalars(
        select(Delivery).where(Delivery.status == DeliveryStatus.SENT).order_by(Delivery.id).limit(30)
    ).all()
    # The cost per message is measured in bench/, not asserted here.
    messages = [
        compose.build_offer_message(
            offer=d.offer, contact=d.contact, advisor=sender_for(session, d.contact), settings=settings, delivery_id=d.id, now=NOW
        )
        for d in deliveries
    ]

    with open_transport(type(settings.mail)(scheme="smtp", host=smtp_server.host, port=smtp_server.port)) as conn:
        for msg in messages:
            conn.send(msg)
    assert len(smtp_server.messages) == len(messages)
    for envelope, msg in zip(smtp_server.messages, messages, strict=True):
        received = message_from_bytes(envelope.content, policy=email_policy.default)
        assert received["Message-ID"] == msg["Message-ID"]
        assert str(received["To"]) == str(msg["To"])
        assert _body(received, "plain") == _body(message_from_bytes(msg.as_bytes(), policy=email_policy.default), "plain")
        assert _body(received, "html") == _body(message_from_bytes(msg.as_bytes(), policy=email_policy.default), "html")


def test_a_demo_card_shows_the_next_call_its_last_call_set(session, settings):
    """#18: a demo contact whose last call set a date said «не запланирован»; the demo logs its calls
    as an advisor does (calls.log_call), so each card shows the date its last call set."""
    demo.load(session, settings)
    session.commit()
    calls = session.scalars(select(Note).where(Note.kind == NoteKind.CALL).order_by(Note.created_at, Note.id)).all()
    assert len(calls) > 20
    last = {note.contact_id: note for note in calls}
    for contact_id, note in last.items():
        contact = session.get(Contact, contact_id)
        assert note.next_contact_on is not None and note.author_id == contact.owner_id
        assert contact.next_contact_on == note.next_contact_on, contact_id
