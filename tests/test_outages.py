"""Faults with real processes: a flusher killed mid-batch, Redis stopped and flushed, the database gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from campaigns import clicks, tasks
from campaigns.config import ROOT
from campaigns.extensions import redis_client
from campaigns.launcher import start_private_redis
from campaigns.models import Click, Delivery, DeliveryStatus, Link
from tests.scenes import due_delivery, reload_delivery
from tests.support import database_gone, process_env

pytestmark = pytest.mark.slow

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"

# A flush in its own process that is killed (SIGKILL, no clean-up) at the given point.
KILLED_FLUSH = """
import os, signal, sys
from campaigns import clicks, tasks

def die(original):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

if sys.argv[1] == "before-commit":  # the batch is written, not committed
    clicks._write = die(clicks._write)
else:  # committed, the processing list not yet dropped
    clicks._done = lambda redis, unripe: os.kill(os.getpid(), signal.SIGKILL)
tasks.flush_clicks()
"""


def _sent_mail(session, factory):
    offer = factory.offer()
    link = Link(offer=offer, name="catalog", url="https://gifts.example.com/catalog", label="Каталог", weight=1)
    session.add(link)
    delivery = Delivery(
        offer=offer,
        contact=factory.contact(),
        send_on=datetime.now(UTC).date(),
        status=DeliveryStatus.SENT,
        sent_at=datetime.now(UTC) - timedelta(days=1),
    )
    session.add(delivery)
    session.commit()
    return delivery, link


@pytest.mark.parametrize("moment", ["before-commit", "after-commit"])
def test_a_flusher_killed_mid_batch_loses_and_doubles_no_click(session, factory, settings, moment):
    delivery, link = _sent_mail(session, factory)
    start = time.time() - 120
    for n in range(30):
        clicks.record_click(
            redis_client(), delivery.id, link.id, method="GET", ip="95.165.10.20", user_agent=FIREFOX, at=start + n
        )

    proc = subprocess.run(
        [sys.executable, "-c", KILLED_FLUSH, moment],
        cwd=ROOT,
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    redis_client().delete(clicks.FLUSH_LOCK_KEY)  # what the lock's expiry does for a dead flusher
    session.rollback()

    clicks.flush_clicks(session, redis_client())

    moments = session.scalars(select(Click.clicked_at).where(Click.delivery_id == delivery.id)).all()
    assert len(moments) == 30 and len(set(moments)) == 30
    assert redis_client().llen(clicks.QUEUE_KEY) == 0 and redis_client().llen(clicks.PROCESSING_KEY) == 0


class OwnRedis:
    """A Redis server of the test's own, to stop, start and flush without touching the run's."""

    def __init__(self, path: Path):
        self.dir = path
        path.mkdir()
        self.url = f"unix://{path / 'redis.sock'}"
        self.proc = None

    def start(self) -> None:
        self.proc = start_private_redis(self.dir)

    def stop(self) -> None:
        """Stopped, and its saved data gone: it comes back empty, as after a crash without persistence."""
        self.proc.terminate()
        self.proc.wait(10)
        (self.dir / "redis.rdb").unlink(missing_ok=True)

    def client(self) -> Redis:
        return Redis.from_url(self.url)


@pytest.fixture
def own_redis(tmp_path):
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    yield redis
    if redis.proc.poll() is None:
        redis.proc.kill()
        redis.proc.wait()


class Process:
    """A real `python worker.py …` (or a script), its log in a file."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self, since: int = 0) -> str:
        return self.log.read_bytes()[since:].decode(errors="replace")

    def size(self) -> int:
        return self.log.stat().st_size

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.terminate()
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_scheduler_and_a_busy_worker_ride_out_a_redis_outage(session, factory, settings, own_redis, tmp_path):
    delivery, link = _sent_mail(session, factory)
    env = process_env(settings, REDIS_URL=own_redis.url)
    scheduler = Process(["worker.py", "--scheduler"], env, tmp_path / "scheduler.log")
    worker = Process(["worker.py"], env, tmp_path / "worker.log")
    redis = own_redis.client()
    try:
        wait_for(lambda: redis.get(tasks.SCHEDULER_HEARTBEAT_KEY), 30, "the scheduler and the worker did not start")
        job = Queue("default", connection=redis).enqueue("time.sleep", 2)
        wait_for(lambda: job.get_status(refresh=True) == "started", 30, "the worker did not take the job")

        own_redis.stop()  # while the worker is busy
        time.sleep(6)  # longer than the scheduler's shortest period (5 s): it meets the outage too
        own_redis.start()
        redis = own_redis.client()

        # The scheduler still enqueues the click flush and a worker still runs it.
        clicks.record_click(redis, delivery.id, link.id, method="GET", ip="95.165.10.20", user_agent=FIREFOX, at=time.time() - 60)
        wait_for(
            lambda: session.scalar(select(Click.id).where(Click.delivery_id == delivery.id)) is not None,
            30,
            "no click written after Redis came back",
        )
        session.rollback()
        assert scheduler.alive() and worker.alive()
    finally:
        codes = scheduler.stop(), worker.stop()
    for process in (scheduler, worker):
        log = process.text()
        assert log.count("Redis unreachable, retrying") == 1 and log.count("Redis back") == 1, log[-3000:]
    assert codes == (0, 0)


# Two schedulers whose lock lives 3 s instead of a minute (renewed every second).
SCHEDULER = "import sys, worker; from campaigns import cron; cron.LOCK_TTL = 3; sys.exit(worker.main(['--scheduler']))"


def test_after_a_redis_flush_only_one_scheduler_schedules(settings, own_redis, tmp_path):
    env = process_env(settings, REDIS_URL=own_redis.url)
    first = Process(["-c", SCHEDULER], env, tmp_path / "first.log")
    wait_for(lambda: "Enqueued job" in first.text(), 30, "the first scheduler did not schedule")
    second = Process(["-c", SCHEDULER], env, tmp_path / "second.log")
    try:
        wait_for(lambda: "waiting" in second.text(), 30, "the second scheduler did not start")
        time.sleep(1)
        assert "Enqueued job" not in second.text()

        own_redis.client().flushall()  # the lock is gone with everything else
        time.sleep(0.5)
        since = {first: first.size(), second: second.size()}
        time.sleep(6)  # > 1 s (a waiting one's try) + 5 s (the click flush's period)

        scheduling = [p for p in (first, second) if "Enqueued job" in p.text(since[p])]
        assert len(scheduling) == 1, [p.text(since[p])[-1500:] for p in (first, second)]
        assert first.alive() and second.alive()
    finally:
        first.stop(), second.stop()


def test_a_periodic_job_says_once_that_the_database_is_away_and_once_that_it_is_back(
    app, settings, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(tasks, "_app", app)
    with caplog.at_level("WARNING", logger="campaigns.tasks"):
        with database_gone(settings, tmp_path):
            assert tasks.dispatch_deliveries() is None and tasks.reconcile_deliveries() is None
            tasks.flush_clicks()  # an empty queue needs no database: no word either way
            assert tasks.plan_deliveries() is None
        assert tasks.flush_clicks() == 0
        assert tasks.dispatch_deliveries() == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("Database unreachable, retrying") and lines[1] == "Database back"


def test_a_live_workers_mail_is_left_alone_past_its_heartbeat_and_through_an_empty_redis(
    session, factory, settings, own_redis, tmp_path
):
    """A real worker whose relay takes 40 s to answer the message: the reconciler, run past its grace
    and after the worker's first heartbeat would have expired, then right after Redis restarted empty,
    then once Redis has settled, touches nothing; the mail goes out once and is recorded `sent`."""
    import asyncio
    import dataclasses

    from campaigns import config, dispatch, inhand, reconcile
    from tests.support import RecordingHandler, serve_smtp

    class SlowAnswer(RecordingHandler):
        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(40)
            return await super().handle_DATA(server, session, envelope)

    with serve_smtp(SlowAnswer()) as relay:
        mail_url = f"{relay.url}?timeout=90"  # the relay's 40 s are within the SMTP timeout, so within the job's limit
        relay_settings = dataclasses.replace(
            settings, mail=config.parse_mail_url(mail_url, settings.instance_path), relay_rate_per_minute=1000
        )
        delivery = due_delivery(factory, session)
        queue = Queue(dispatch.MAIL_QUEUE, connection=own_redis.client())
        dispatch.dispatch(session, relay_settings, queue=queue)
        env = process_env(settings, REDIS_URL=own_redis.url, MAIL_URL=mail_url, RELAY_RATE_PER_MINUTE="1000")
        worker = Process(["worker.py"], env, tmp_path / "worker.log")
        try:
            wait_for(lambda: reload_delivery(session, delivery.id).status == DeliveryStatus.SENDING, 30, "not claimed")
            session.rollback()
            time.sleep(max(0, inhand.SETTLE - int(own_redis.client().info("server")["uptime_in_seconds"])))
            time.sleep(inhand.TTL + 1)  # the hand published at the job's start has been renewed since

            def reconciled():
                result = reconcile.reconcile(
                    session,
                    relay_settings,
                    now=datetime.now(UTC) + timedelta(minutes=1.5),
                    queue=Queue(dispatch.MAIL_QUEUE, connection=own_redis.client()),
                )
                return result.unknown, result.requeued

            assert reconciled() == (0, 0)
            own_redis.stop()
            own_redis.start()
            assert reconciled() == (0, 0)  # too fresh a Redis to tell: a sending row waits
            time.sleep(inhand.SETTLE + 1)
            assert reconciled() == (0, 0)  # the live worker has published its hand again
            assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENDING

            wait_for(lambda: reload_delivery(session, delivery.id).status != DeliveryStatus.SENDING, 60, "never recorded")
            assert reload_delivery(session, delivery.id).status == DeliveryStatus.SENT
            assert len(relay.messages) == 1
        finally:
            worker.stop()


def test_rqs_scheduled_job_process_tells_a_redis_loss_in_one_line_and_comes_back(settings, own_redis, tmp_path):
    """The worker's RQ scheduler process (jobs enqueued for later, e.g. a throttled mail) met a Redis
    outage with a traceback; now one line, and a job scheduled after Redis is back still runs."""
    env = process_env(settings, REDIS_URL=own_redis.url)
    worker = Process(["worker.py"], env, tmp_path / "worker.log")
    try:
        wait_for(lambda: "Scheduler for" in worker.text(), 30, "RQ's scheduler process did not start")
        own_redis.stop()
        time.sleep(4)
        own_redis.start()
        redis = own_redis.client()
        job = Queue("default", connection=redis).enqueue_in(timedelta(seconds=1), "time.sleep", 0)
        wait_for(lambda: job.get_status(refresh=True) == "finished", 60, "the scheduled job never ran")
        assert worker.alive()
    finally:
        worker.stop()
    log = worker.text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("Redis unreachable, retrying") == 1, log[-3000:]


def test_a_periodic_job_meeting_sqlite_locked_tries_again_and_calls_it_no_outage(
    app, session, factory, settings, monkeypatch, caplog
):
    """Another process holds SQLite's write lock for a second, longer than the busy timeout of the
    engine used here: the dispatch job waits it out and queues the mail; nothing says «unreachable»."""
    import sqlite3
    import threading

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from campaigns.db import db

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    monkeypatch.setattr(tasks, "_app", app)
    delivery = due_delivery(factory, session)
    session.commit()
    holder = sqlite3.connect(make_url(settings.database_url).database, check_same_thread=False, isolation_level=None)
    impatient = create_engine(settings.database_url, connect_args={"timeout": 0.05})
    real = db.engine
    db.session.remove()
    db.engine = impatient
    db.session.configure(bind=impatient)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as another process's long write holds it
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with caplog.at_level("INFO", logger="campaigns.tasks"):
            assert tasks.dispatch_deliveries() == 1
    finally:
        release.join()
        holder.close()
        db.session.remove()
        db.engine = real
        db.session.configure(bind=real)
        impatient.dispose()
    assert not [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    session.rollback()
    assert session.get(Delivery, delivery.id).status == DeliveryStatus.QUEUED
