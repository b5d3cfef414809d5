"""At a million contacts the board reads counts the scheduler keeps (board_counts), and they are
audience.py's answer: the same contacts the planner would mail, per tag and per sender (#15)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from campaigns import audience, board
from campaigns.models import Advisor, Contact, Role, Suppression, SuppressionReason, contact_tags
from campaigns.sender import sender_of

TODAY = date(2027, 7, 1)
NOW = datetime(2027, 6, 1, tzinfo=UTC)
NAMES = ["Олег", "!", "Анна", "", "Кондрашов Василий Иванович", "Ирина", "ООО"]


def _random_scene(factory, session, seed: int):
    rng = random.Random(seed)
    tags = [factory.tag(f"Тег {i}", rule=rule, lead_days=21) for i, rule in enumerate(["2 sun aug", "1 sun aug", "3 sun jul"])]
    house = factory.house_advisor()
    owners = [factory.advisor(), factory.advisor(), factory.advisor(active=False), house]
    for n in range(120):
        email = rng.choice([f"c{n}@client.example.com", f"c{n}@client.example.com", None, ""])
        contact = factory.contact(
            owner=rng.choice(owners),
            tags=rng.sample(tags, rng.randint(0, 3)),
            first_name=rng.choice(NAMES),
            middle_name=rng.choice(["", "Иванович", "Петровна"]),
            email=email,
            unsubscribed_at=NOW if rng.random() < 0.1 else None,
            archived_at=NOW if rng.random() < 0.1 else None,
            consent_at=None if rng.random() < 0.2 else NOW,
        )
        if email and rng.random() < 0.1:  # on the stop list (an erased person added again: as itself too)
            session.add(Suppression(email=email, reason=SuppressionReason.BOUNCE))
            session.flush()
        assert contact.id
    return tags


def _audience_py(session, tag_id: int) -> tuple[Counter, int]:
    """audience.py's own answer: senders of tag_audience(tag), and who lacks only a consent."""
    owner = aliased(Advisor)
    sender = sender_of(owner).label("sender_id")
    senders = Counter(
        dict(
            session.execute(
                select(sender, func.count())
                .select_from(Contact)
                .join(owner, owner.id == Contact.owner_id)
                .where(Contact.id.in_(audience.tag_audience(tag_id)))
                .group_by(sender)
            ).all()
        )
    )
    no_consent = session.scalar(
        select(func.count())
        .select_from(contact_tags)
        .join(Contact, Contact.id == contact_tags.c.contact_id)
        .where(contact_tags.c.tag_id == tag_id, audience.may_be_mailed(consent=False), audience.lacks_consent())
    )
    return senders, no_consent


def _board(session, settings):
    return {row.tag.id: row for row in board.readiness_board(session, settings, TODAY)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_counts_equal_audience_py_on_a_random_data_set(factory, session, settings, monkeypatch, seed):
    tags = _random_scene(factory, session, seed)
    live = _board(session, settings)
    monkeypatch.setattr(board, "LIVE_LIMIT", 0)  # as at a million contacts
    assert board.refresh_counts(session) > 1
    kept = _board(session, settings)
    assert {t.id for t in tags} <= set(kept)
    for tag in tags:
        senders, no_consent = _audience_py(session, tag.id)
        row = kept[tag.id]
        assert row.counted_at is not None and live[tag.id].counted_at is None
        assert row.audience == sum(senders.values()) == live[tag.id].audience
        assert Counter({load.advisor_id: load.mails for load in row.advisors}) == senders
        assert row.no_consent == no_consent == live[tag.id].no_consent
        assert row.fallback == live[tag.id].fallback
    assert sum(row.audience for row in kept.values()) > 0


def test_a_big_database_never_counted_yet_is_counted_live(factory, session, settings, monkeypatch):
    tag = factory.tag("Строители", rule="2 sun aug", lead_days=21)
    factory.contact(tags=[tag])
    monkeypatch.setattr(board, "LIVE_LIMIT", 0)
    row = _board(session, settings)[tag.id]
    assert (row.audience, row.counted_at) == (1, None)
    board.refresh_counts(session)
    factory.contact(tags=[tag])  # after the count: seen at the next refresh, the page says when it counted
    row = _board(session, settings)[tag.id]
    assert row.audience == 1 and row.counted_at is not None
    board.refresh_counts(session)
    assert _board(session, settings)[tag.id].audience == 2


def test_the_board_page_says_when_it_counted(client, factory, session, monkeypatch):
    month = ("jan feb mar apr may jun jul aug sep oct nov dec".split())[date.today().month % 12]  # the next month
    tag = factory.tag("Строители", rule=f"workday1 {month}", lead_days=0)
    factory.contact(tags=[tag])
    client.login(factory.advisor(role=Role.MARKETING))
    session.commit()
    page = client.get("/board").get_data(as_text=True)
    assert "Строители" in page and "Числа посчитаны" not in page
    monkeypatch.setattr(board, "LIVE_LIMIT", 0)
    board.refresh_counts(session)
    session.commit()
    page = client.get("/board").get_data(as_text=True)
    assert "Числа посчитаны" in page and "каждые 10 минут" in page


def test_the_scheduler_refreshes_the_counts_every_10_minutes(app, monkeypatch):
    from campaigns import cron, tasks
    from campaigns.extensions import redis_client

    monkeypatch.setattr(tasks, "_app", app)
    with app.app_context():
        scheduler = cron.build(redis_client())
    jobs = {(job.func_name.rsplit(".", 1)[-1], job.interval or job.cron) for job in scheduler.get_jobs()}
    assert ("refresh_board_counts", 600) in jobs
