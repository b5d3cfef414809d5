from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from campaigns import deliveries, dispatch, reconcile, sending
from campaigns.db import utcnow
from campaigns.extensions import redis_client
from campaigns.models import Delivery, DeliveryStatus, Note, NoteKind
from tests.scenes import StallsFirstAnswer, due_delivery, notes_of, reload_delivery, run_worker, settled_redis, smtp_settings


@pytest.fixture(autouse=True)
def _fresh_transports():
    yield
    sending.close_transports()


def later(minutes):
    return utcnow() + timedelta(minutes=minutes)


def test_it_loses_nothing_when_redis_is_flushed_between_dispatch_and_work(
    app, session, factory, settings, smtp_server, monkeypatch
):
    settings = smtp_settings(settings, smtp_server)
    deliveries = [due_delivery(factory, session) for _ in range(3)]
    assert dispatch.dispatch(session, settings) == 3

    redis_client().flushdb()
    run_worker(app, settings, monkeypatch)
    assert smtp_server.messages == []
    assert {reload_delivery(session, d.id).status for d in deliveries} == {DeliveryStatus.QUEUED}

    # Within the grace (dispatch may still be enqueuing) nothing; right after it, every lost job again.
    assert reconcile.reconcile(session, settings, now=later(0.5)).requeued == 0
    result = reconcile.reconcile(session, settings, now=later(1.5))
    run_worker(app, settings, monkeypatch)

    assert result.requeued == 3
    assert {reload_delivery(session, d.id).status for d in deliveries} == {DeliveryStatus.SENT}
    assert len(smtp_server.messages) == 3

    # Reconciling again, and again after another flush, sends nothing twice.
    reconcile.reconcile(session, settings, now=later(30))
    redis_client().flushdb()
    reconcile.reconcile(session, settings, now=later(60))
    run_worker(app, settings, monkeypatch)
    assert len(smtp_server.messages) == 3


def test_it_leaves_a_queued_delivery_alone_while_its_job_waits(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    due_delivery(factory, session)
    dispatch.dispatch(session, settings)

    result = reconcile.reconcile(session, settings, now=later(11))

    assert result.requeued == 0
    run_worker(app, settings, monkeypatch)
    assert len(smtp_server.messages) == 1


def test_it_marks_a_delivery_abandoned_mid_send_unknown_and_never_resends_it(
    app, session, factory, settings, smtp_server, monkeypatch
):
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)
    dispatch.dispatch(session, settings)
    # A worker claims the delivery and dies before the relay answers or we commit.
    assert sending.claim(session, delivery.id, utcnow())
    settled_redis()

    early = reconcile.reconcile(session, settings, now=later(0.5))  # within the grace
    assert early.unknown == 0
    result = reconcile.reconcile(session, settings, now=later(1.5))  # in no live worker's hand: at once
    run_worker(app, settings, monkeypatch)

    unknown = reload_delivery(session, delivery.id)
    assert result.unknown == 1
    assert unknown.status == DeliveryStatus.UNKNOWN
    assert smtp_server.messages == []
    assert "неизвестно" in notes_of(session, unknown.contact_id)[-1].body.lower()

    reconcile.reconcile(session, settings, now=later(60))
    run_worker(app, settings, monkeypatch)
    assert smtp_server.messages == []


def test_it_resends_an_unknown_delivery_only_when_a_person_says_so(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    admin = factory.advisor(name="Админ")
    delivery = due_delivery(factory, session)
    sending.claim(session, delivery.id, utcnow() - timedelta(minutes=30))
    reconcile.reconcile(session, settings)

    assert deliveries.retry(session, delivery.id, admin)
    dispatch.dispatch(session, settings)
    run_worker(app, settings, monkeypatch)

    assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENT
    assert len(smtp_server.messages) == 1
    bodies = [n.body for n in notes_of(session, delivery.contact_id)]
    assert any("повторно (Админ)" in body for body in bodies)


def test_it_records_a_person_taking_an_unknown_delivery_as_sent(session, factory, settings, smtp_server):
    settings = smtp_settings(settings, smtp_server)
    admin = factory.advisor(name="Админ")
    delivery = due_delivery(factory, session)
    sending.claim(session, delivery.id, utcnow() - timedelta(minutes=30))
    reconcile.reconcile(session, settings)

    assert deliveries.mark_sent(session, delivery.id, admin)

    sent = reload_delivery(session, delivery.id)
    assert sent.status == DeliveryStatus.SENT and sent.sent_at is not None
    assert session.scalar(select(Note).where(Note.delivery_id == delivery.id, Note.author_id == admin.id))
    assert not deliveries.mark_sent(session, delivery.id, admin)  # only once


def test_it_dispatches_an_overdue_planned_delivery(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    delivery = due_delivery(factory, session)

    result = reconcile.reconcile(session, settings)
    run_worker(app, settings, monkeypatch)

    assert result.dispatched == 1
    assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENT
    assert session.scalar(select(Note).where(Note.kind == NoteKind.MAIL))


def kill_a_real_worker_mid_send(session, settings, relay, delivery_id: int) -> None:
    """Start a real `python worker.py --burst` against `relay` and SIGKILL it once `delivery_id` is being sent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from campaigns.config import ROOT

    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "MAIL_URL": relay.url,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(settings.instance_path),
        "PUBLIC_URL": settings.public_url,
        "RELAY_RATE_PER_MINUTE": "1000",
    }
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and reload_delivery(session, delivery_id).status != DeliveryStatus.SENDING:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_it_survives_a_real_worker_killed_mid_send(app, session, factory, settings, monkeypatch):
    """A real `python worker.py` killed while the relay is taking the mail: the fate is unknown,
    the delivery is shown for review and never sent again by itself; nothing else is lost."""
    import asyncio
    import time

    from tests.support import RecordingHandler, serve_smtp

    class SlowRelay(RecordingHandler):
        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(2)  # the worker dies while the relay is accepting
            return await super().handle_DATA(server, session, envelope)

    with serve_smtp(SlowRelay()) as relay:
        relay_settings = smtp_settings(settings, relay)
        delivery = due_delivery(factory, session)
        dispatch.dispatch(session, relay_settings)
        kill_a_real_worker_mid_send(session, settings, relay, delivery.id)
        time.sleep(2.5)

        assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENDING
        reconcile.reconcile(session, relay_settings, now=later(11))
        run_worker(app, relay_settings, monkeypatch)
        reconcile.reconcile(session, relay_settings, now=later(60))
        run_worker(app, relay_settings, monkeypatch)

        assert reload_delivery(session, delivery.id).status == DeliveryStatus.UNKNOWN
        assert len(relay.messages) <= 1  # whatever the relay took before the crash, never a second copy


@pytest.mark.slow
def test_it_sends_the_rest_of_a_killed_workers_batch_as_soon_as_the_worker_is_gone(app, session, factory, settings, monkeypatch):
    """A real worker killed on the first mail of a batch of three: while its hand (inhand.py) may still
    be a live worker's, nothing is touched; once it has expired (inhand.TTL, seconds) the next reconcile
    marks the one on the wire unknown and sends the two it never reached, once each — not 12 minutes
    later when RQ gives the job up."""
    import time

    from campaigns import inhand
    from tests.support import serve_smtp

    with serve_smtp(StallsFirstAnswer()) as relay:  # the worker dies while the relay answers the first
        relay_settings = smtp_settings(settings, relay)
        deliveries = [due_delivery(factory, session) for _ in range(3)]
        ids, emails = [d.id for d in deliveries], [d.contact.email for d in deliveries]
        queue = dispatch.mail_queue()
        dispatch.dispatch(session, relay_settings, queue=queue)
        settled_redis()
        kill_a_real_worker_mid_send(session, settings, relay, ids[0])
        killed = time.monotonic()

        assert [reload_delivery(session, i).status for i in ids] == [DeliveryStatus.SENDING] + [DeliveryStatus.QUEUED] * 2
        # RQ still counts the dead worker's job as running, and its hand has not expired yet: all wait.
        early = reconcile.reconcile(session, relay_settings, now=later(1.5))
        assert (early.unknown, early.requeued) == (0, 0)
        time.sleep(max(0.0, killed + inhand.TTL + 1 - time.monotonic()))
        result = reconcile.reconcile(session, relay_settings, now=later(1.5))
        run_worker(app, relay_settings, monkeypatch)

        assert (result.unknown, result.requeued) == (1, 2)
        assert [reload_delivery(session, i).status for i in ids] == [DeliveryStatus.UNKNOWN] + [DeliveryStatus.SENT] * 2
        received = [m.rcpt_tos[0] for m in relay.messages]
        assert len(received) == len(set(received))  # never twice
        assert set(emails[1:]) <= set(received)  # the first one only if the worker got that far before it died


def test_it_does_by_hand_from_the_command_line_what_the_scheduler_does(app, session, factory, settings, smtp_server):
    settings = smtp_settings(settings, smtp_server)
    due = due_delivery(factory, session)
    stuck = due_delivery(factory, session)
    sending.claim(session, stuck.id, utcnow() - timedelta(minutes=30))  # its worker died
    due_id, stuck_id = due.id, stuck.id
    runner = app.test_cli_runner()

    dispatched = runner.invoke(args=["campaigns", "dispatch"])
    reconciled = runner.invoke(args=["campaigns", "reconcile"])
    shown = runner.invoke(args=["campaigns", "queue"])
    marked = runner.invoke(args=["campaigns", "queue", "--mark-sent", str(stuck_id)])
    again = runner.invoke(args=["campaigns", "queue", "--mark-sent", str(stuck_id)])

    assert dispatched.output.strip() == "queued 1"
    assert reconciled.output.startswith("unknown 1,")
    assert f"#{stuck_id}" in shown.output and "неизвестно, ушло ли письмо" in shown.output
    assert marked.exit_code == 0 and "taken as sent" in marked.output
    assert again.exit_code != 0
    assert reload_delivery(session, stuck_id).status == DeliveryStatus.SENT
    assert reload_delivery(session, due_id).status == DeliveryStatus.QUEUED


def _failed(factory, session, error="550 5.7.1 Message rejected by policy"):
    offer = factory.offer()
    contact = factory.contact(tags=[offer.tag], email="blocked@client.example.com")
    delivery = Delivery(
        offer=offer, contact=contact, status=DeliveryStatus.FAILED, send_on=utcnow().date(), last_error=error, attempts=1
    )
    session.add(delivery)
    session.commit()
    return delivery


def test_it_shows_the_queue_to_admin_who_can_retry_a_failed_delivery(client, session, factory):
    from campaigns.models import Role

    admin = factory.advisor(role=Role.ADMIN, name="Ольга Админ")
    delivery = _failed(factory, session)
    delivery_id, contact_id = delivery.id, delivery.contact_id
    client.login(admin)

    page = client.get("/queue").get_data(as_text=True)
    assert "Отклонено политикой сервера" in page
    assert "550 5.7.1 Message rejected by policy" in page
    assert "Отправить повторно" in page

    response = client.post_form(f"/queue/{delivery_id}/retry")
    assert response.status_code == 302
    assert reload_delivery(session, delivery_id).status == DeliveryStatus.PLANNED
    assert any("повторно (Ольга Админ)" in n.body for n in notes_of(session, contact_id))


def test_it_lets_marketing_look_at_the_queue_but_not_act(client, session, factory):
    from campaigns.models import Role

    delivery = _failed(factory, session)
    client.login(factory.advisor(role=Role.MARKETING))
    session.commit()

    page = client.get("/queue")
    assert page.status_code == 200
    assert "Отправить повторно" not in page.get_data(as_text=True)
    assert client.post_form(f"/queue/{delivery.id}/retry").status_code == 403


def test_it_keeps_advisors_out_of_the_queue(client, session, factory):
    client.login(factory.advisor())
    session.commit()

    assert client.get("/queue").status_code == 403


def test_it_shows_the_days_plan_per_advisor_on_the_queue_page(client, session, factory):

    from campaigns import calendar
    from campaigns.models import Role

    tag = factory.tag(rule="15 jun", lead_days=0)
    factory.offer(tag=tag, year=2026)
    factory.contact(owner=factory.advisor(name="Игорь Планов"), tags=[tag])
    admin = factory.advisor(role=Role.ADMIN)
    session.commit()
    client.login(admin)
    day = calendar.send_date("15 jun", 0, 2026)

    page = client.get(f"/queue?plan={day.isoformat()}").get_data(as_text=True)

    assert "Игорь Планов" in page
    assert session.scalar(select(Delivery)) is None


def test_it_prints_the_queue_and_retries_from_the_command_line(app, session, factory):
    delivery = _failed(factory, session, error="550 5.2.1 Mailbox disabled")
    delivery_id = delivery.id
    runner = app.test_cli_runner()

    shown = runner.invoke(args=["campaigns", "queue"])
    retried = runner.invoke(args=["campaigns", "queue", "--retry", str(delivery_id)])
    again = runner.invoke(args=["campaigns", "queue", "--retry", str(delivery_id)])

    assert shown.exit_code == 0, shown.output
    assert "failed 1" in shown.output and "550 5.2.1 Mailbox disabled" in shown.output
    assert retried.exit_code == 0 and "queued again" in retried.output
    assert again.exit_code != 0 and "not failed" in again.output
    assert reload_delivery(session, delivery_id).status == DeliveryStatus.PLANNED


def test_it_lists_every_state_on_the_queue_page(client, session, factory):
    from campaigns.models import OfferStatus, Role

    admin = factory.advisor(role=Role.ADMIN)
    owner = factory.advisor(name="Анна Смирнова")
    draft = factory.offer(status=OfferStatus.DRAFT)
    ready = factory.offer()
    now = utcnow()
    states = [
        dict(status=DeliveryStatus.PLANNED, send_at=now + timedelta(hours=1), advisor_id=owner.id),
        dict(status=DeliveryStatus.QUEUED),
        dict(
            status=DeliveryStatus.RETRYING,
            attempts=2,
            next_attempt_at=now + timedelta(minutes=15),
            last_error="451 4.3.0 Mailbox busy",
        ),
        dict(status=DeliveryStatus.SENT, sent_at=now, advisor_id=owner.id),
        dict(status=DeliveryStatus.UNKNOWN, claimed_at=now - timedelta(minutes=20)),
    ]
    for values in states:
        session.add(Delivery(offer=ready, contact=factory.contact(owner=owner), send_on=now.date(), **values))
    session.add(Delivery(offer=draft, contact=factory.contact(owner=owner), send_on=now.date(), status=DeliveryStatus.HELD))
    session.commit()
    client.login(admin)

    page = client.get("/queue").get_data(as_text=True)

    assert "Судьба неизвестна" in page and "Считать отправленным" in page
    assert "451 4.3.0 Mailbox busy" in page
    assert "черновик" in page
    assert "Отправлено сегодня: 1" in page
    assert "Анна Смирнова" in page


def test_it_leaves_deliveries_alone_while_their_batch_job_waits(app, session, factory, settings, smtp_server, monkeypatch):
    settings = smtp_settings(settings, smtp_server)
    deliveries = [due_delivery(factory, session) for _ in range(3)]
    dispatch.dispatch(session, settings)

    result = reconcile.reconcile(session, settings, now=later(11))

    assert result.requeued == 0
    run_worker(app, settings, monkeypatch)
    assert len(smtp_server.messages) == 3
    assert {reload_delivery(session, d.id).status for d in deliveries} == {DeliveryStatus.SENT}


def test_it_schedules_the_delivery_pipeline_as_the_readme_says(app, settings, monkeypatch):
    import dataclasses

    from campaigns import cron, tasks

    monkeypatch.setattr(tasks, "_app", app)
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(settings, bounce_url="maildir:/tmp/bounces"))

    with app.app_context():
        scheduler = cron.build(redis_client())
    jobs = {(job.func_name.rsplit(".", 1)[-1], job.interval or job.cron) for job in scheduler.get_jobs()}

    assert {
        ("plan_deliveries", "0 7 * * *"),
        ("plan_deliveries", 600),
        ("dispatch_deliveries", 30),
        ("reconcile_deliveries", 60),
        ("read_bounces", 300),
    } <= jobs


@pytest.mark.slow
def test_a_mail_the_relay_took_is_sent_even_if_the_reconciler_took_its_worker_for_dead(app, session, factory, settings):
    """A sender whose hand the reconciler cannot see (here: no RQ job at all, as a worker starved past its
    heartbeat would look) is marked unknown meanwhile; the relay's 250 then settles it as sent, once."""
    import asyncio
    import threading

    from campaigns.db import db
    from tests.support import RecordingHandler, serve_smtp

    class SlowAnswer(RecordingHandler):
        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(3)
            return await super().handle_DATA(server, session, envelope)

    with serve_smtp(SlowAnswer()) as relay:
        relay_settings = smtp_settings(settings, relay)
        delivery = due_delivery(factory, session)
        settled_redis()
        outcome = []

        def send():
            with app.app_context():
                outcome.append(sending.send_delivery(db.session, delivery.id, relay_settings, rate_limit=False))

        sender = threading.Thread(target=send)
        sender.start()
        deadline = utcnow() + timedelta(seconds=10)
        while reload_delivery(session, delivery.id).status != DeliveryStatus.SENDING and utcnow() < deadline:
            session.rollback()
        assert reconcile.reconcile(session, relay_settings, now=later(1.5)).unknown == 1
        sender.join(30)

        assert outcome[0].outcome == sending.Outcome.SENT
        sent = reload_delivery(session, delivery.id)
        assert sent.status == DeliveryStatus.SENT and sent.sent_at is not None
        assert len(relay.messages) == 1
        assert session.scalar(select(Note).where(Note.delivery_id == delivery.id, Note.kind == NoteKind.MAIL))


def test_it_finds_lost_deliveries_behind_thousands_still_waiting_in_their_jobs(session, factory, settings):
    """5,000 queued deliveries whose job still waits and, after them, one whose job Redis lost: the lost
    one is enqueued again (the reconciler once looked at the first 5,000 only)."""
    from sqlalchemy import insert

    from campaigns.models import Contact

    offer = factory.offer()
    owner = factory.advisor()
    session.commit()
    now = utcnow()
    session.execute(
        insert(Contact),
        [{"owner_id": owner.id, "email": f"c{i}@client.example.com", "created_at": now, "updated_at": now} for i in range(5001)],
    )
    contact_ids = session.scalars(select(Contact.id).order_by(Contact.id)).all()
    session.execute(
        insert(Delivery),
        [
            {
                "offer_id": offer.id,
                "contact_id": cid,
                "status": DeliveryStatus.QUEUED,
                "send_on": now.date(),
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for cid in contact_ids
        ],
    )
    session.commit()
    ids = session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
    queue = dispatch.mail_queue()
    queue.enqueue(dispatch.BATCH_JOB, ids[:-1], job_id="waiting")  # every one but the last still waits

    result = reconcile.reconcile(session, settings, now=later(2))

    assert result.requeued == 1
    assert dispatch.job_id(ids[-1]) in queue.get_job_ids()
