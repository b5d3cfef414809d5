"""Logging a call: the card, the hot list and the API apply one rule (campaigns/calls.py)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from campaigns import calls, contacts, hotlist
from campaigns.models import Contact, Note, NoteKind
from tests.scenes import Mailing

PATHS = ["card", "hot", "api"]


def _post_call(client, path, contact_id, fields):
    """The same call, as each page (or the API) sends it."""
    if path == "api":
        headers = {"X-CSRFToken": client.csrf_token("/")}
        return client.post(f"/api/contacts/{contact_id}/notes", json={"kind": "call", **fields}, headers=headers)
    if path == "card":
        return client.post_form(f"/contacts/{contact_id}/calls", fields)
    return client.post_form(f"/hot/{contact_id}/call", {f"c{contact_id}-{k}": v for k, v in fields.items()})


@pytest.fixture
def hot_contact(session, factory, settings):
    anna = factory.advisor()
    contact = factory.contact(owner=anna, company="Тойота")
    mailing = Mailing(session, factory)
    mailing.click(contact, mailing.discount, timedelta(hours=1))
    session.commit()
    assert [e.contact_id for e in hotlist.hot_list(session, anna.id, settings)] == [contact.id]
    return anna, contact


@pytest.mark.parametrize("path", PATHS)
def test_it_takes_the_contact_off_the_hot_list_whichever_path_logged_the_call(client, session, settings, hot_contact, path):
    anna, contact = hot_contact
    before = contact.updated_at
    client.login(anna)
    next_on = date.today() + timedelta(days=5)
    response = _post_call(
        client, path, contact.id, {"result": "Просят КП", "interest": "yes", "next_contact_on": next_on.isoformat()}
    )
    assert response.status_code in (201, 302)
    session.expire_all()
    assert hotlist.hot_list(session, anna.id, settings) == []
    contact = session.get(Contact, contact.id)
    assert contact.next_contact_on == next_on and contact.updated_at > before
    [note] = session.query(Note).filter_by(contact_id=contact.id, kind=NoteKind.CALL).all()
    assert (note.result, note.interest, note.author_id) == ("Просят КП", True, anna.id)


@pytest.mark.parametrize("path", PATHS)
def test_it_requires_the_interest_answer_on_every_path(client, session, settings, hot_contact, path):
    anna, contact = hot_contact
    client.login(anna)
    next_on = (date.today() + timedelta(days=5)).isoformat()
    response = _post_call(client, path, contact.id, {"result": "Говорили", "next_contact_on": next_on})
    assert response.status_code in (400, 422)
    assert "Отметьте, есть ли интерес" in response.get_data(as_text=True)
    assert session.query(Note).filter_by(kind=NoteKind.CALL).count() == 0
    session.expire_all()
    assert len(hotlist.hot_list(session, anna.id, settings)) == 1


def _call_form(html):
    form = re.search(r'<form[^>]*class="call-form".*?</form>', html, re.S).group(0)
    form = re.sub(r'(name|id|for)="c\d+-', r'\1="', form)  # the hot list's per-row prefix
    return re.sub(r'action="[^"]*"|<button.*?</button>', "", form, flags=re.S)


def test_the_card_and_the_hot_list_show_the_same_form_and_the_same_errors(client, session, hot_contact):
    anna, contact = hot_contact
    client.login(anna)
    assert _call_form(client.get(f"/contacts/{contact.id}").get_data(as_text=True)) == _call_form(
        client.get("/hot/").get_data(as_text=True)
    )
    card = _post_call(client, "card", contact.id, {"result": "", "interest": "", "next_contact_on": ""})
    hot = _post_call(client, "hot", contact.id, {"result": "", "interest": "", "next_contact_on": ""})
    assert card.status_code == hot.status_code == 422
    card_form, hot_form = _call_form(card.get_data(as_text=True)), _call_form(hot.get_data(as_text=True))
    assert card_form == hot_form
    for message in ("Опишите результат звонка", "Отметьте, есть ли интерес", "Назначьте дату следующего контакта"):
        assert re.search(rf"has-error.*{message}", card_form, re.S)


def test_a_call_requires_the_next_contact_date_and_sets_it(session, factory):
    anna = factory.advisor()
    contact = factory.contact(owner=anna)
    with pytest.raises(contacts.ContactError) as error:
        calls.log_call(session, anna, contact, result="Не дозвонился", interest="no", next_contact_on="")
    assert "next_contact_on" in error.value.errors
    next_on = date.today() + timedelta(days=7)
    note = calls.log_call(
        session, anna, contact, result="Просил каталог", interest="yes", objection="Дорого", next_contact_on=next_on.isoformat()
    )
    assert (note.kind, note.interest, note.objection, note.next_contact_on) == (NoteKind.CALL, True, "Дорого", next_on)
    assert contact.next_contact_on == next_on and contact.hot_handled_at is not None


def test_a_colleague_cannot_log_a_call_on_someone_elses_contact(session, factory):
    anna, igor = factory.advisor(), factory.advisor()
    contact = factory.contact(owner=anna)
    with pytest.raises(contacts.NotAllowed):
        calls.log_call(session, igor, contact, result="Звонил", interest="yes", next_contact_on=date.today() + timedelta(days=1))
