"""The demo data set shows every page something real."""
from __future__ import annotations

from sqlalchemy import func, select

from campaigns import demo
from campaigns.models import Advisor, Click, Contact, Delivery, Note, NoteKind, Offer, Role, Tag, Verdict


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
