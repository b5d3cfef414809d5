from __future__ import annotations

import dataclasses
from datetime import timedelta
from email import message_from_string

import pytest
from sqlalchemy import func, select

from campaigns import audience, config, deliveries, dispatch, pacing, reconcile, sending, transport
from campaigns.db import db, utcnow
from campaigns.models import (
    Delivery,
    DeliveryStatus,
    NoteKind,
    Suppression,
    SuppressionReason,
)
from tests.scenes import StallsFirstAnswer, due_delivery, notes_of, reload_delivery, run_worker, settled_redis, smtp_settings
from tests.support import RecordingHandler, serve_smtp


@pytest.fixture
def relay():
    """A real SMTP server whose answer depends on the recipient's local part:
    later@ → 451 4.3.0, unknown@ → 550 5.1.1, blocked@ → 550 5.7.1, anyone else → 250."""

    class Handler(RecordingHandler):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            local = address.split("@")[0]
            if local == "later":
                return "451 4.3.0 Mailbox busy, try again later"
            if local == "unknown":
                return "550 5.1.1 <unknown@client.example.com>: Recipient address rejected: User unknown"
            if local == "blocked":
                return "550 5.7.1 Message rejected by policy"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    with serve_smtp(Handler()) as sink:
        yield sink


@pytest.fixture(autouse=True)
def _fresh_transports():
    yield
    sending.close_transports()


def test_it_sends_a_due_delivery_and_keeps_the_full_mail_in_the_notes(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    owner = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    delivery = due_delivery(factory, session, owner=owner, company="Тойота")

    assert dispatch.dispatch(session, settings) == 1
    run_worker(app, settings, monkeypatch)

    assert len(smtp_server.messages) == 1
    sent = reload_delivery(session, delivery.id)
    assert sent.status == DeliveryStatus.SENT
    assert sent.sent_at is not None and sent.advisor_id == owner.id
    [note] = notes_of(session, sent.contact_id, NoteKind.MAIL)
    assert note.delivery_id == sent.id
    assert note.subject == "Новогодние подарки для Тойота"
    assert note.author_id == owner.id  # the card says who the mail went out from
    mail = message_from_string(note.raw_message)
    assert mail["Message-ID"].strip() == sent.message_id
    assert "anna@studio.example.com" in mail["From"]
    received = smtp_server.messages[0].content.decode()
    assert sent.message_id in received


def test_it_sends_a_deactivated_advisors_contact_from_the_house_advisor(session, factory, settings, smtp_server):
    settings = smtp_settings(settings, smtp_server)
    house = factory.house_advisor(email="tupin@studio.example.com")
    gone = factory.advisor()
    delivery = due_delivery(factory, session, owner=gone)
    gone.active = False
    session.commit()

    result = sending.send_delivery(session, delivery.id, settings)

    assert result.outcome == sending.Outcome.SENT
    assert reload_delivery(session, delivery.id).advisor_id == house.id
    assert "tupin@studio.example.com" in smtp_server.messages[0].content.decode()


def test_it_retries_a_temporary_failure_later(session, factory, settings, relay):
    settings = smtp_settings(settings, relay)
    delivery = due_delivery(factory, session, email="later@client.example.com")
    before = utcnow()

    result = sending.send_delivery(session, delivery.id, settings)

    retrying = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.RETRYING
    assert retrying.status == DeliveryStatus.RETRYING
    assert retrying.next_attempt_at >= before + timedelta(minutes=5)
    assert "4.3.0" in retrying.last_error
    assert dispatch.dispatch(session, settings, queue=dispatch.mail_queue()) == 0  # not yet
    assert dispatch.dispatch(session, settings, now=utcnow() + timedelta(minutes=6), queue=dispatch.mail_queue()) == 1

    sending.send_delivery(session, delivery.id, settings)
    again = reload_delivery(session, delivery.id)
    assert again.attempts == 2
    assert again.next_attempt_at - utcnow() > timedelta(minutes=14)
    assert relay.messages == []


def test_it_waits_longer_after_each_failure_and_gives_up_after_three_days():
    delays = [sending.retry_delay(n) for n in range(1, 40)]
    given = [d for d in delays if d is not None]
    assert given[:3] == [timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)]
    assert all(a <= b for a, b in zip(given, given[1:], strict=False))
    assert timedelta(days=3) <= sum(given, timedelta()) < timedelta(days=3, hours=7)
    assert delays[len(given)] is None


def test_it_gives_up_on_a_temporary_failure_after_three_days(session, factory, settings, relay):
    settings = smtp_settings(settings, relay)
    delivery = due_delivery(factory, session, email="later@client.example.com")
    last = next(n for n in range(1, 100) if sending.retry_delay(n) is None)
    delivery.attempts = last - 1  # every earlier attempt failed the same way
    session.commit()

    result = sending.send_delivery(session, delivery.id, settings)

    failed = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.FAILED
    assert failed.status == DeliveryStatus.FAILED and failed.next_attempt_at is None
    assert failed.last_error.startswith("не удалось доставить за 3 дня: 451 4.3.0")
    assert "не отправлено" in notes_of(session, failed.contact_id)[-1].body
    assert dispatch.dispatch(session, settings, now=utcnow() + timedelta(days=1), queue=dispatch.mail_queue()) == 0


def test_it_fails_a_mail_that_cannot_be_composed_with_the_reason(session, factory, settings, smtp_server):
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)
    delivery.offer.body = "{{ greeting }} {% if %}"  # saved before the editor checked templates, say
    session.commit()

    result = sending.send_delivery(session, delivery.id, settings)

    failed = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.FAILED
    assert failed.status == DeliveryStatus.FAILED and failed.last_error.startswith("Письмо не собрано")
    assert "не собрано" in notes_of(session, failed.contact_id)[-1].body
    assert smtp_server.messages == []


def test_it_holds_a_mail_whose_offer_went_back_to_draft_before_it_was_sent(session, factory, settings, smtp_server):
    from campaigns.models import OfferStatus

    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)
    delivery.offer.status = OfferStatus.DRAFT
    session.commit()

    result = sending.send_delivery(session, delivery.id, settings)

    held = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.HELD
    assert held.status == DeliveryStatus.HELD and held.send_at is None
    assert smtp_server.messages == []


def test_it_fails_a_permanent_error_with_the_servers_words(session, factory, settings, relay):
    settings = smtp_settings(settings, relay)
    delivery = due_delivery(factory, session, email="blocked@client.example.com")

    result = sending.send_delivery(session, delivery.id, settings)

    failed = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.FAILED
    assert failed.status == DeliveryStatus.FAILED
    assert failed.last_error == "550 5.7.1 Message rejected by policy"
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0  # a policy block is not the address
    assert "Message rejected by policy" in notes_of(session, failed.contact_id)[-1].body


def test_it_suppresses_an_unknown_mailbox(session, factory, settings, relay):
    settings = smtp_settings(settings, relay)
    delivery = due_delivery(factory, session, email="unknown@client.example.com")

    sending.send_delivery(session, delivery.id, settings)

    failed = reload_delivery(session, delivery.id)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.last_error.startswith("550 5.1.1")
    suppression = session.scalar(select(Suppression))
    assert (suppression.email, suppression.reason) == ("unknown@client.example.com", SuppressionReason.BOUNCE)
    assert any("5.1.1" in n.body for n in notes_of(session, failed.contact_id))
    # The next offer to the same contact is never planned.
    tag = failed.contact.tags[0]
    assert session.scalars(audience.tag_audience(tag.id)).all() == []


def test_it_never_sends_to_a_contact_who_unsubscribed_after_planning(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)
    delivery.contact.unsubscribed_at = utcnow()
    session.commit()

    dispatch.dispatch(session, settings)
    run_worker(app, settings, monkeypatch)

    cancelled = reload_delivery(session, delivery.id)
    assert cancelled.status == DeliveryStatus.CANCELLED
    assert smtp_server.messages == []
    assert "отписался" in notes_of(session, cancelled.contact_id)[-1].body


def test_it_sends_once_when_the_same_delivery_is_queued_twice(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)
    queue = dispatch.mail_queue()
    dispatch.dispatch(session, settings, queue=queue)
    dispatch.enqueue(queue, delivery.id, settings)  # a duplicate, as after a re-queue
    queue.enqueue(dispatch.SEND_JOB, delivery.id)

    run_worker(app, settings, monkeypatch)

    assert len(smtp_server.messages) == 1
    assert len(notes_of(session, delivery.contact_id, NoteKind.MAIL)) == 1


def test_it_comes_back_later_when_the_relay_rate_is_used_up(session, factory, settings, smtp_server):
    settings = dataclasses.replace(smtp_settings(settings, smtp_server), relay_rate_per_minute=1)
    first, second = due_delivery(factory, session), due_delivery(factory, session)

    results = [sending.send_delivery(session, first.id, settings), sending.send_delivery(session, second.id, settings)]

    assert [r.outcome for r in results] == [sending.Outcome.SENT, sending.Outcome.THROTTLED]
    assert 0 < results[1].delay <= 60
    assert reload_delivery(session, second.id).status == DeliveryStatus.PLANNED
    assert len(smtp_server.messages) == 1


def test_a_batch_takes_the_relay_rate_in_one_go_when_there_is_room_and_one_mail_at_a_time_when_not(
    session, factory, settings, smtp_server, monkeypatch
):
    settings = dataclasses.replace(smtp_settings(settings, smtp_server), relay_rate_per_minute=7)
    first, second = [due_delivery(factory, session).id for _ in range(5)], [due_delivery(factory, session).id for _ in range(5)]
    limit = pacing.relay_limit(settings)
    hits = []
    real_hit = limit.limiter.hit
    monkeypatch.setattr(limit.limiter, "hit", lambda *args, **kw: hits.append(kw.get("cost", 1)) or real_hit(*args, **kw))

    results, rest, _delay = sending.send_batch(session, first, settings)

    assert [r.outcome for r in results] == [sending.Outcome.SENT] * 5 and rest == []
    assert hits == [5]  # one round trip to Redis for the whole batch
    hits.clear()

    results, rest, delay = sending.send_batch(session, second, settings)

    # No room for 5 (2 left): nothing taken at once, then one at a time while the window allows.
    assert hits == [5, 1, 1, 1]
    assert [r.outcome for r in results] == [sending.Outcome.SENT] * 2
    assert rest == second[2:] and 0 < delay <= 60
    assert len(smtp_server.messages) == 7
    assert {reload_delivery(session, i).status for i in rest} == {DeliveryStatus.PLANNED}


def test_it_puts_a_job_over_the_relay_rate_back_for_later(app, session, factory, settings, smtp_server, monkeypatch):
    settings = dataclasses.replace(smtp_settings(settings, smtp_server), relay_rate_per_minute=1)
    first, second = due_delivery(factory, session), due_delivery(factory, session)
    first_id, second_id = first.id, second.id
    dispatch.dispatch(session, settings)

    run_worker(app, settings, monkeypatch)

    assert len(smtp_server.messages) == 1
    statuses = {reload_delivery(session, first_id).status, reload_delivery(session, second_id).status}
    assert statuses == {DeliveryStatus.SENT, DeliveryStatus.QUEUED}
    waiting = second_id if reload_delivery(session, second_id).status == DeliveryStatus.QUEUED else first_id
    assert dispatch.job_id(waiting) in dispatch.mail_queue().scheduled_job_registry.get_job_ids()


def test_it_sends_many_deliveries_in_jobs_of_twenty_each_claimed_and_recorded_once(
    app, session, factory, settings, smtp_server, monkeypatch
):
    settings = smtp_settings(settings, smtp_server)
    owner = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    deliveries = [due_delivery(factory, session, owner=owner, first_name="Олег", last_name="Петров") for _ in range(23)]
    unsubscribed = deliveries[5]
    unsubscribed.contact.unsubscribed_at = utcnow()
    session.commit()
    queue = dispatch.mail_queue()

    assert dispatch.dispatch(session, settings, queue=queue) == 23
    assert queue.count == 2  # 20 + 3
    queue.enqueue(dispatch.SEND_JOB, deliveries[0].id)  # a stray duplicate of one of them
    run_worker(app, settings, monkeypatch)

    assert len(smtp_server.messages) == 22
    statuses = {d.id: reload_delivery(session, d.id).status for d in deliveries}
    assert statuses.pop(unsubscribed.id) == DeliveryStatus.CANCELLED
    assert set(statuses.values()) == {DeliveryStatus.SENT}
    sent = {envelope.content for envelope in smtp_server.messages}
    for delivery in deliveries:
        mails = notes_of(session, delivery.contact_id, NoteKind.MAIL)
        if delivery is unsubscribed:
            assert mails == []
            continue
        [mail] = mails
        # What the contact's card shows is byte for byte what the relay got.
        assert mail.raw_message.encode() in sent
        assert message_from_string(mail.raw_message)["Message-ID"].strip() == reload_delivery(session, delivery.id).message_id


def test_it_puts_the_rest_of_a_batch_over_the_relay_rate_back_as_one_job(
    app, session, factory, settings, smtp_server, monkeypatch
):
    settings = dataclasses.replace(smtp_settings(settings, smtp_server), relay_rate_per_minute=2)
    deliveries = [due_delivery(factory, session) for _ in range(5)]
    dispatch.dispatch(session, settings)

    run_worker(app, settings, monkeypatch)

    assert len(smtp_server.messages) == 2
    waiting = sorted(d.id for d in deliveries if reload_delivery(session, d.id).status == DeliveryStatus.QUEUED)
    assert len(waiting) == 3
    assert dispatch.mail_queue().scheduled_job_registry.get_job_ids() == [dispatch.batch_job_id(waiting)]


class LosesTheAnswer(RecordingHandler):
    """A relay that takes the whole message (final dot included), then hangs up or answers too late."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await super().handle_DATA(server, session, envelope)
        if self.how == "drop":
            server.transport.close()
        else:
            await asyncio.sleep(1.5)  # beyond the client's timeout
        return "250 OK"


@pytest.mark.parametrize("how", ["drop", "late"])
def test_it_never_resends_a_mail_whose_answer_was_lost_after_the_final_dot(
    app, session, factory, settings, client, monkeypatch, how
):
    from campaigns.models import Role

    with serve_smtp(LosesTheAnswer(how)) as relay:
        settings = dataclasses.replace(
            settings, mail=config.parse_mail_url(f"{relay.url}?timeout=0.5", settings.instance_path), relay_rate_per_minute=1000
        )
        delivery = due_delivery(factory, session)
        admin = factory.advisor(role=Role.ADMIN)
        session.commit()

        dispatch.dispatch(session, settings)
        run_worker(app, settings, monkeypatch)

        unknown = reload_delivery(session, delivery.id)
        assert unknown.status == DeliveryStatus.UNKNOWN
        assert "целиком" in unknown.last_error
        assert "Проверьте и решите" in notes_of(session, unknown.contact_id)[-1].body
        # Neither the retry schedule nor the reconciler sends it again, however much later.
        for minutes in (6, 11, 60, 3 * 24 * 60):
            reconcile.reconcile(session, settings, now=utcnow() + timedelta(minutes=minutes))
            run_worker(app, settings, monkeypatch)
        assert len(relay.messages) == 1
        assert reload_delivery(session, delivery.id).status == DeliveryStatus.UNKNOWN

    client.login(admin)
    page = client.get("/queue").get_data(as_text=True)
    assert "Судьба неизвестна: 1" in page and "целиком, но его ответа нет" in page and "Считать отправленным" in page


def test_it_gives_each_job_time_for_every_mails_smtp_timeout(session, factory, settings, smtp_server):
    settings = dataclasses.replace(settings, mail=config.parse_mail_url(f"{smtp_server.url}?timeout=30", settings.instance_path))
    for _ in range(dispatch.BATCH_SIZE + 1):
        due_delivery(factory, session)
    queue = dispatch.mail_queue()

    dispatch.dispatch(session, settings, queue=queue)

    from rq.job import Job

    jobs = Job.fetch_many(queue.get_job_ids(), connection=queue.connection)
    limits = sorted((len(job.args[0]) if isinstance(job.args[0], list) else 1, job.timeout) for job in jobs)
    # Every mail may wait the whole SMTP timeout, and the job still is not ended early: (n + 1) × (30 s + 5 s).
    assert limits == [(1, 70), (dispatch.BATCH_SIZE, 735)]


def test_it_ends_a_batch_at_its_time_limit_and_sends_the_rest_later(app, session, factory, settings, monkeypatch):
    from rq.job import Job

    # The in-process worker's time-out reaches a thread blocked on the socket when the relay answers:
    # the relay answers 2 s after the limit. The limit leaves the claim and the composing (the first
    # greeting loads pymorphy's dictionaries) time enough on a busy machine: 2 s was sometimes spent
    # before the message went.
    with serve_smtp(StallsFirstAnswer(stall=8)) as relay:
        settings = smtp_settings(settings, relay)
        deliveries = [due_delivery(factory, session) for _ in range(3)]
        ids = [d.id for d in deliveries]
        queue = dispatch.mail_queue()
        dispatch.dispatch(session, settings, queue=queue)
        queue.empty()
        # The same batch with a limit of six seconds: RQ's time-out strikes while the relay is answering.
        queue.enqueue(dispatch.BATCH_JOB, ids, job_id="short", job_timeout=6, failure_ttl=600)

        run_worker(app, settings, monkeypatch)

        job = Job.fetch("short", connection=queue.connection)
        assert job.get_status() == "failed" and "JobTimeoutException" in job.latest_result().exc_string
        assert len(relay.messages) == 1
        assert settings.mail not in transport._transports  # the connection, maybe mid-message, was dropped
        # The one on the wire is left to the reconciler; the rest were not touched.
        assert [reload_delivery(session, i).status for i in ids] == [DeliveryStatus.SENDING] + [DeliveryStatus.QUEUED] * 2

        settled_redis()  # a Redis up for less than inhand.SETTLE seconds keeps the reconciler's hands off
        result = reconcile.reconcile(session, settings, now=utcnow() + timedelta(minutes=11))
        run_worker(app, settings, monkeypatch)

        assert (result.unknown, result.requeued) == (1, 2)
        assert [reload_delivery(session, i).status for i in ids] == [DeliveryStatus.UNKNOWN] + [DeliveryStatus.SENT] * 2
        assert sorted(m.rcpt_tos[0] for m in relay.messages) == sorted(d.contact.email for d in deliveries)


class CutsTheDatabase(RecordingHandler):
    """A relay that, while taking the message, cuts the sender's database connections: on PostgreSQL it
    terminates their backends (pg_terminate_backend from a connection of its own); on SQLite, which
    has no server connection to cut, another writer holds the database locked for a moment."""

    def __init__(self, cut):
        super().__init__()
        self.cut = cut

    async def handle_DATA(self, server, session, envelope):
        self.cut()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def database_cut(app):
    """cut() breaks what the app's sessions hold: the real fault of each database."""
    import sqlite3
    import threading

    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import NullPool

    engine = db.engine
    engine.dispose()  # every connection from here on is seen being made
    if engine.dialect.name == "postgresql":
        pids = []

        def remember(dbapi_connection, _record):
            pids.append(dbapi_connection.info.backend_pid)

        admin = create_engine(engine.url, poolclass=NullPool)

        def cut():
            with admin.connect() as conn:
                cut = (
                    conn.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids}
                    )
                    .scalars()
                    .all()
                )
            assert cut and all(cut)

        event.listen(engine, "connect", remember)
        yield cut
        event.remove(engine, "connect", remember)
        admin.dispose()
    else:

        def busy_timeout(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=100")  # instead of 30 s: the test waits less

        def cut():
            writer = sqlite3.connect(engine.url.database, check_same_thread=False)
            writer.execute("BEGIN IMMEDIATE")
            threading.Timer(0.6, lambda: (writer.rollback(), writer.close())).start()

        event.listen(engine, "connect", busy_timeout)
        yield cut
        event.remove(engine, "connect", busy_timeout)
    engine.dispose()


def test_it_records_mails_the_relay_took_as_sent_when_the_database_connection_drops(session, factory, settings, database_cut):
    first = due_delivery(factory, session)
    # The same offer: from the second mail on the worker keeps its database connection between mails.
    second = Delivery(
        offer=first.offer,
        contact=factory.contact(tags=[first.offer.tag]),
        status=DeliveryStatus.PLANNED,
        send_on=first.send_on,
        send_at=first.send_at,
    )
    session.add(second)
    session.commit()
    ids = [first.id, second.id]
    with serve_smtp(CutsTheDatabase(database_cut)) as relay:
        results, _, _ = sending.send_batch(session, ids, smtp_settings(settings, relay))

    assert [r.outcome for r in results] == [sending.Outcome.SENT] * 2, results
    assert len(relay.messages) == 2
    for delivery_id in ids:
        sent = reload_delivery(session, delivery_id)
        assert sent.status == DeliveryStatus.SENT and sent.message_id
        assert len(notes_of(session, sent.contact_id, NoteKind.MAIL)) == 1


def test_it_holds_a_mail_whose_sender_left_before_it_was_sent_like_planning_does(session, factory, settings, smtp_server):
    """The owner deactivated after pacing, and no house advisor: at the claim the mail is held with the
    sender rule's reason (not failed), shown on the queue page, and released once someone may send it."""
    from campaigns import planner
    from campaigns.sender import NO_SENDER

    settings = smtp_settings(settings, smtp_server)
    owner = factory.advisor()
    delivery = due_delivery(factory, session, owner=owner)
    owner.active = False
    session.commit()

    result = sending.send_delivery(session, delivery.id, settings)

    held = reload_delivery(session, delivery.id)
    assert result.outcome == sending.Outcome.HELD
    assert (held.status, held.last_error, held.send_at) == (DeliveryStatus.HELD, NO_SENDER, None)
    assert smtp_server.messages == []
    assert [d.id for d in deliveries.queue_view(session, settings).lists["no_sender"]] == [delivery.id]

    house = factory.house_advisor()
    assert planner.release_held(session, utcnow().date()) == 1
    session.commit()
    released = reload_delivery(session, delivery.id)
    assert (released.status, released.last_error) == (DeliveryStatus.PLANNED, None)
    assert house.active
