"""result_counts stays equal to a count of the facts whoever writes them: the ORM, bulk Core
statements, a transfer of contacts, a mail sent by someone other than its owner (#15)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, insert, select, update

from campaigns import ownership, reports
from campaigns.models import Click, Delivery, DeliveryStatus, Note, NoteKind, ResultCount, Verdict
from tests.test_results import SENT, as_tuples, build


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
    anna, igor = build(session, factory)
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
                "clicked_at": SENT + timedelta(hours=n),
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
        update(Delivery).where(Delivery.id == planned.id).values(status=DeliveryStatus.SENT, advisor_id=house.id, sent_at=SENT)
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
