"""The demo data set shows every page something real."""
from __future__ import annotations

from sqlalchemy import func, select

from campaigns import demo
from campaigns.models import Advisor, Click, Contact, Delivery, Note, NoteKind, Offer, Role, Tag, Verdict


def test_the_demo_loads_advisors_contacts_offers_and_history(session, settings):
    summary = demo.load(session, settings)
    session.commit()
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


def test_the_demo_has_the_awkward_first_names_from_the_seeds(session, settings):
    demo.load(session, settings)
    first_names = set(session.scalars(select(Contact.first_name)))
    assert "!" in first_names
    assert any(len(name.split()) == 3 for name in first_names)  # a whole ФИО in the first-name field
    assert any(name.isupper() for name in first_names if name != "!")


def test_the_demo_is_only_loaded_into_an_empty_database(session, settings):
    assert not demo.has_data(session)
    demo.load(session, settings)
    assert demo.has_data(session)
