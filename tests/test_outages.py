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
from tests.conftest import database_gone, process_env

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
    delivery = Delivery(offer=offer, contact=factory.contact(), send_on=datetime.now(UTC).date(),
                        status=DeliveryStatus.SENT, sent_at=datetime.now(UTC) - timedelta(days=1))
    session.add(delivery)
    session.commit()
    return delivery, link


@pytest.mark.parametrize("moment", ["before-commit", "after-commit"])
def test_a_flusher_killed_mid_batch_loses_and_doubles_no_click(session, factory, settings, moment):
    delivery, link = _sent_mail(session, factory)
    start = time.time() - 120
    for n in range(30):
        clicks.record_click(redis_client(), delivery.id, link.id, method="GET", ip="95.165.10.20", user_agent=FIREFOX,
                            at=start + n)

    proc = subprocess.run([sys.executable, "-c", KILLED_FLUSH, moment], cwd=ROOT, env=process_env(settings),
                          capture_output=True, text=True, timeout=60)
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
            self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

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
        clicks.record_click(redis, delivery.id, link.id, method="GET", ip="95.165.10.20", user_agent=FIREFOX,
                            at=time.time() - 60)
        wait_for(lambda: session.scalar(select(Click.id).where(Click.delivery_id == delivery.id)) is not None, 30,
                 "no click written after Redis came back")
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


def test_a_periodic_job_says_once_that_the_database_is_away_and_once_that_it_is_back(app, settings, tmp_path,
                                                                                   monkeypatch, caplog):
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
