"""The scheduler's leader lock (cron.start), in this process: schedulers as threads on the test Redis.

tests/test_outages.py runs two real scheduler processes through a Redis flush; these cover the
rest of the lock's life: the lock taken over by someone else, won back, and handed on when the
scheduling one stops.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from rq import Queue

from campaigns import cron, tasks
from campaigns.extensions import redis_client

TTL = 3  # seconds; a holder renews it every TTL / 3


class Scheduler:
    """cron.start() in a thread of its own, named so the log tells which one did what."""

    def __init__(self, name: str, connection):
        self.name = name
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=cron.start, args=(connection, self.stop_event), name=name, daemon=True)

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), f"{self.name} did not stop"


class Log(logging.Handler):
    """Every record of campaigns.cron and rq's cron scheduler, with the thread that wrote it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def mark(self) -> int:
        return len(self.records)

    def lines(self, thread: str, since: int = 0) -> list[str]:
        return [r.getMessage() for r in self.records[since:] if r.threadName == thread]

    def enqueued(self, thread: str, since: int = 0) -> int:
        return sum("Enqueued job" in line for line in self.lines(thread, since))


@pytest.fixture
def log():
    handler = Log()
    loggers = [logging.getLogger("campaigns.cron"), logging.getLogger("rq.cron")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def redis(app, monkeypatch):
    monkeypatch.setattr(tasks, "_app", app)  # cron.build() reads the settings of this app
    monkeypatch.setattr(cron, "LOCK_TTL", TTL)
    with app.app_context():
        connection = redis_client()
    yield connection
    connection.delete(cron.LOCK_KEY)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_of_two_schedulers_only_the_lock_holder_enqueues_and_the_other_takes_over_when_it_stops(redis, log):
    first = Scheduler("first", redis).start()
    wait_for(lambda: log.enqueued("first"), 20, "the first scheduler did not schedule")
    second = Scheduler("second", redis).start()
    try:
        wait_for(
            lambda: "another scheduler holds the lock; waiting" in log.lines("second"),
            20,
            "the second scheduler did not start waiting",
        )
        queued = Queue("default", connection=redis).count
        time.sleep(6)  # longer than the click flush's period (5 s): the holder enqueues it again
        assert log.enqueued("first") >= 2 and Queue("default", connection=redis).count > queued
        assert log.enqueued("second") == 0

        first.stop()  # SIGTERM's way out: the lock is released, not left to expire
        wait_for(lambda: log.enqueued("second"), 10, "the second scheduler did not take over")
        assert "holding the scheduler lock; scheduling" in log.lines("second")
    finally:
        for scheduler in (first, second):
            scheduler.stop_event.set()
        for scheduler in (first, second):
            scheduler.thread.join(10)


def test_a_scheduler_whose_lock_was_lost_stops_scheduling_until_it_wins_it_again(redis, log):
    scheduler = Scheduler("only", redis).start()
    try:
        wait_for(lambda: log.enqueued("only"), 20, "the scheduler did not schedule")
        token = redis.get(cron.LOCK_KEY)
        assert token

        # Redis flushed and the lock taken at once by another scheduler (its own token).
        redis.delete(cron.LOCK_KEY)
        redis.set(cron.LOCK_KEY, b"someone-else", ex=60)
        wait_for(
            lambda: any("lost the scheduler lock" in line for line in log.lines("only")),
            10,
            "the scheduler did not notice that its lock was gone",
        )
        since = log.mark()
        time.sleep(7)  # longer than the click flush's period: a scheduler still scheduling would enqueue it
        assert log.enqueued("only", since) == 0, log.lines("only", since)
        assert redis.get(cron.LOCK_KEY) == b"someone-else"  # never taken back from the holder

        # The other one goes away without a word (its lock expires): this one wins it back and schedules.
        redis.delete(cron.LOCK_KEY)
        wait_for(lambda: log.enqueued("only", since), 10, "the scheduler did not schedule again once the lock was free")
        assert "holding the scheduler lock; scheduling" in log.lines("only", since)
        assert redis.get(cron.LOCK_KEY) not in (None, b"someone-else")
    finally:
        scheduler.stop()
