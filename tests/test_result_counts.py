"""result_counts stays equal to a count of the facts whoever writes them: the ORM, bulk Core
statements, a transfer of contacts, a mail sent by someone other than its owner (#15)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import case, delete, insert, select, update

from campaigns import ownership, reports
from campaigns.models import Click, Delivery, DeliveryStatus, Link, Note, NoteKind, ResultCount, Verdict
from tests.scenes import RESULTS_SENT, as_tuples, build_results


def _stored(session):
    rows = session.execute(select(ResultCount).order_by(ResultCount.offer_id, ResultCount.advisor_id)).scalars()
    return {
        (r.offer_id, r.advisor_id): tuple(getattr(r, c) for c in reports.COUNTS)
        for r in rows
        if any(getattr(r, c) for c in reports.COUNTS)
    }


def _assert_matches_a_recount(session):
    kept = _stored(session)
    savepoint = session.begin_nested()
    reports.recount(session)
    counted = _stored(session)
    savepoint.rollback()
    assert kept == counted


def test_the_counts_follow_every_writer(session, factory):
    anna, igor = build_results(session, factory)
    _assert_matches_a_recount(session)
    house = factory.advisor(name="Дежурный")
    planned = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.PLANNED)).one()
    # Bulk clicks and notes, as the click flush and the unsubscribe page write them.
    sent = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.SENT)).all()
    session.execute(
        insert(Click),
        [
            {
                "delivery_id": d.id,
                "link_id": None,
                "contact_id": d.contact_id,
                "owner_id": d.contact.owner_id,
                "clicked_at": RESULTS_SENT + timedelta(hours=n),
                "verdict": verdict,
                "reason": "bulk",
            }
            for n, d in enumerate(sent)
            for verdict in (Verdict.HUMAN, Verdict.HUMAN, Verdict.BOT)
        ],
    )
    session.add_all([Note(contact_id=sent[0].contact_id, kind=NoteKind.UNSUBSCRIBE, delivery_id=sent[0].id) for _ in range(2)])
    session.flush()
    _assert_matches_a_recount(session)
    # A transfer moves the owner's unsent mails; a mail goes out from the house advisor.
    admin = factory.advisor(role="admin")
    assert planned.contact.owner_id == anna.id
    assert ownership.transfer_contacts(session, admin, [planned.contact_id, sent[0].contact_id], igor, "отпуск") == 2
    _assert_matches_a_recount(session)
    assert as_tuples(reports.by_advisor(session, 2026))["Игорь"][0] == 4  # the planned mail went with its contact
    session.execute(
        update(Delivery)
        .where(Delivery.id == planned.id)
        .values(status=DeliveryStatus.SENT, advisor_id=house.id, sent_at=RESULTS_SENT)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.PLANNED, send_on=date(2026, 3, 3))
    )
    _assert_matches_a_recount(session)
    session.execute(delete(Click).where(Click.verdict == Verdict.HUMAN, Click.delivery_id == sent[0].id))
    _assert_matches_a_recount(session)
    session.commit()
    assert as_tuples(reports.by_advisor(session, 2026))["Дежурный"] == (1, 1, 0, 0, 0, 0, 0)


def test_one_statement_moving_many_mails_keeps_the_counts_and_a_claim_changes_none(session, factory):
    """A bulk update that changes counts of several offers and advisors at once (a hand edit in psql)
    keeps them equal to a recount; updates that change no count (dispatch, the claim) leave them be."""
    build_results(session, factory)
    house = factory.advisor(name="Дежурный")
    session.execute(
        update(Delivery)
        .where(Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.PLANNED)))
        .values(
            status=case(
                (Delivery.status == DeliveryStatus.SENT, DeliveryStatus.FAILED),
                (Delivery.status == DeliveryStatus.FAILED, DeliveryStatus.SENT),
                else_=Delivery.status,
            ),
            advisor_id=case((Delivery.advisor_id.is_(None), house.id), else_=None),
        )
    )
    _assert_matches_a_recount(session)
    assert house.id in {advisor_id for _offer_id, advisor_id in _stored(session)}
    kept = _stored(session)
    planned = session.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.PLANNED)).all()
    assert planned
    for status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):  # dispatched, then claimed
        session.execute(update(Delivery).where(Delivery.id.in_(planned)).values(status=status))
    session.execute(update(Delivery).values(last_error="проверка", attempts=Delivery.attempts + 1))
    assert _stored(session) == kept
    _assert_matches_a_recount(session)
    session.commit()


def _link_counts(session):
    rows = session.execute(select(Link.id, Link.human_clicks, Link.clickers, Link.bot_clicks).order_by(Link.id))
    return {r.id: (r.human_clicks, r.clickers, r.bot_clicks) for r in rows}


def _assert_links_match_a_recount(session):
    session.expire_all()
    kept = _link_counts(session)
    savepoint = session.begin_nested()
    reports.recount(session)
    session.expire_all()
    counted = _link_counts(session)
    savepoint.rollback()
    assert kept == counted


def test_each_link_keeps_its_clicks_contacts_and_scanners(session, factory):
    """Per link: human clicks, the contacts who clicked it (each once), scanners apart — kept by the
    database through inserts, a late verdict that turns a human click into a scanner's, deletions."""
    build_results(session, factory)
    link = session.scalars(select(Link).where(Link.name == "discount")).one()
    # build_results(): b1 clicked twice as a person and once as a scanner, b2 a scanner, b3 once as a person.
    assert reports.by_link(session, [link.offer_id])[link.offer_id] == [reports.LinkRow("Скидка", 3, 2, 2)]
    _assert_links_match_a_recount(session)
    b1_clicks = session.scalars(
        select(Click).where(Click.link_id == link.id, Click.verdict == Verdict.HUMAN).order_by(Click.id)
    ).all()
    b1 = b1_clicks[0].delivery
    # A bulk insert, as the click flush writes: the same contact again (not a new clicker) and a scanner.
    session.execute(
        insert(Click),
        [
            {
                "delivery_id": b1.id,
                "link_id": link.id,
                "contact_id": b1.contact_id,
                "owner_id": b1.contact.owner_id,
                "clicked_at": RESULTS_SENT + timedelta(hours=5),
                "verdict": verdict,
                "reason": "bulk",
            }
            for verdict in (Verdict.HUMAN, Verdict.BOT)
        ],
    )
    _assert_links_match_a_recount(session)
    assert _link_counts(session)[link.id] == (4, 2, 3)
    # A late click reveals a burst: b3's only human click becomes a scanner's, b3 no longer a clicker.
    b3_click = next(c for c in b1_clicks if c.delivery_id != b1.id)
    session.execute(update(Click).where(Click.id == b3_click.id).values(verdict=Verdict.BOT, reason="burst"))
    _assert_links_match_a_recount(session)
    _assert_matches_a_recount(session)  # the offer's counts follow the correction too (0024)
    assert _link_counts(session)[link.id] == (3, 1, 4)
    # Updates that do not touch the verdict (a transfer moves owner_id) change nothing.
    session.execute(update(Click).where(Click.link_id == link.id).values(reason="moved"))
    assert _link_counts(session)[link.id] == (3, 1, 4)
    session.execute(delete(Click).where(Click.delivery_id == b1.id, Click.verdict == Verdict.HUMAN))
    _assert_links_match_a_recount(session)
    assert _link_counts(session)[link.id] == (0, 0, 4)
    session.commit()
