"""/u/<token>: a GET only asks; a POST (the button or RFC 8058 one-click) unsubscribes at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

from campaigns import dispatch
from campaigns.models import Contact, Delivery, DeliveryStatus, Note, NoteKind, Suppression, SuppressionReason
from campaigns.tracking import unsubscribe_token
from tests.scenes import due_delivery, reload_delivery, run_worker, smtp_settings

SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def setup(session, factory):
    contact = factory.contact(email="oleg@faubeha.example.ru")
    sent = Delivery(
        offer=factory.offer(subject="Новогодний каталог"),
        contact=contact,
        send_on=SENT.date(),
        status=DeliveryStatus.SENT,
        sent_at=SENT,
    )
    pending = {
        status: Delivery(offer=factory.offer(), contact=contact, send_on=date(2027, 3, 1), status=status)
        for status in (DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.HELD)
    }
    other = Delivery(offer=factory.offer(), contact=factory.contact(), send_on=date(2027, 3, 1))
    session.add_all([sent, other, *pending.values()])
    session.commit()
    return contact, sent, pending, other


def url(delivery, secret="test-secret"):
    return "/u/" + unsubscribe_token(delivery.id, secret)


def test_a_get_on_the_unsubscribe_link_changes_nothing(client, session, factory):
    contact, sent, pending, _ = setup(session, factory)
    response = client.get(url(sent))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Отписаться от рассылки?" in page and "oleg@faubeha.example.ru" in page
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is None
    assert session.query(Suppression).count() == 0 and session.query(Note).count() == 0
    assert {d.status for d in pending.values()} == set(pending)


def test_the_one_click_post_unsubscribes_at_once(client, session, factory):
    contact, sent, pending, other = setup(session, factory)
    # What the mail client sends (RFC 8058): no cookie, no CSRF token.
    response = client.post(url(sent), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is not None
    [suppression] = session.query(Suppression).all()
    assert (suppression.email, suppression.reason) == ("oleg@faubeha.example.ru", SuppressionReason.UNSUBSCRIBE)
    assert {session.get(Delivery, d.id).status for d in pending.values()} == {DeliveryStatus.CANCELLED}
    assert session.get(Delivery, sent.id).status == DeliveryStatus.SENT
    assert session.get(Delivery, other.id).status == DeliveryStatus.PLANNED
    [note] = session.query(Note).filter_by(contact_id=contact.id).all()
    assert note.kind == NoteKind.UNSUBSCRIBE and "«Новогодний каталог»" in note.body
    assert "Отменено запланированных писем: 4" in note.body


def test_the_button_on_the_page_unsubscribes_and_says_so(client, session, factory):
    contact, sent, _, _ = setup(session, factory)
    response = client.post(url(sent))
    assert response.status_code == 200 and "Вы отписаны" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is not None


def test_unsubscribing_twice_changes_nothing_more(client, session, factory):
    contact, sent, _, _ = setup(session, factory)
    client.post(url(sent))
    first = session.get(Contact, contact.id).unsubscribed_at
    client.post(url(sent))
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at == first
    assert session.query(Suppression).count() == 1 and session.query(Note).count() == 1
    assert "Вы уже отписаны" in client.get(url(sent)).get_data(as_text=True)


def test_a_forged_unsubscribe_token_is_a_404(client, session, factory):
    contact, sent, _, _ = setup(session, factory)
    assert client.post(url(sent, secret="other")).status_code == 404
    assert client.get(url(sent)[:-2]).status_code == 404
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is None


def test_only_a_post_unsubscribes_whatever_the_method(client, session, factory):
    # Mail scanners send HEAD (and sometimes OPTIONS, PUT…) to every link they find: none of
    # these may take a client off the list.
    contact, sent, pending, _ = setup(session, factory)
    for method in ("HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"):
        response = client.open(
            url(sent), method=method, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code in (200, 405), method
    session.expire_all()
    assert session.get(Contact, contact.id).unsubscribed_at is None
    assert session.query(Suppression).count() == 0 and session.query(Note).count() == 0
    assert {session.get(Delivery, d.id).status for d in pending.values()} == set(pending)


def test_the_unsubscribe_note_names_the_mail_by_the_subject_the_contact_got(
    app, client, session, factory, settings, smtp_server, monkeypatch
):
    """The offer's subject is a template («… для {{ company }}»): the note says what the client read."""
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session, company="Тойота")
    assert dispatch.dispatch(session, settings) == 1
    run_worker(app, settings, monkeypatch)
    assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENT
    assert client.post(url(delivery)).status_code == 200
    session.expire_all()
    [note] = session.query(Note).filter_by(contact_id=delivery.contact_id, kind=NoteKind.UNSUBSCRIBE).all()
    assert "«Новогодние подарки для Тойота»" in note.body and "{{" not in note.body


def test_a_mail_without_its_note_is_still_named_as_rendered(client, session, factory):
    contact = factory.contact(email="ivan@zavod.example.ru", company="Завод")
    sent = Delivery(
        offer=factory.offer(subject="Подарки для {{ company }}"),
        contact=contact,
        send_on=SENT.date(),
        status=DeliveryStatus.SENT,
        sent_at=SENT,
    )
    session.add(sent)
    session.commit()
    assert client.post(url(sent)).status_code == 200
    session.expire_all()
    [note] = session.query(Note).filter_by(contact_id=contact.id).all()
    assert "«Подарки для Завод»" in note.body
