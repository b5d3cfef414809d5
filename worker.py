"""RQ worker entry point: `python worker.py` runs a worker, `--scheduler` the cron scheduler.

Scale out by starting more workers against the same Redis and database. The worker
does not fork per job (SimpleWorker): jobs are many and small, and each reuses the
process's app, database pool and SMTP connection.

Neither the worker nor the scheduler exits when Redis goes away: RQ's worker quits its loop
then (a busy one after failing to record its job), so `work()` waits until Redis answers
and starts a new one; the log says "Redis unreachable, retrying" and "Redis back" once each.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time

from redis import Redis
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler

from campaigns import outage
from campaigns.config import ConfigError, settings_of
from campaigns.runtime import connect_redis

QUEUES = ["default", "mail"]
# RQ's own log level. `./run` sets WARNING: its console then shows one line per batch of mails
# (tasks.send_batch_job) instead of RQ's lines per job and the cron scheduler's «Enqueued job …».
RQ_LOG_LEVEL_VARIABLE = "RQ_LOG_LEVEL"
log = logging.getLogger("campaigns.worker")


class Scheduler(RQScheduler):
    """RQ's scheduler process for jobs enqueued for later (a throttled mail comes back this way). RQ's
    own one dies on a Redis outage with a traceback, and the worker starts it again only at its next
    maintenance (minutes later); this one rides the outage out: one line when Redis goes, one when
    it is back."""

    def work(self):
        self._install_signal_handlers()
        redis_outage = outage.Outage("Redis (RQ's scheduler)", log)
        born = False
        while not self._stop_requested:
            try:
                if not born:
                    self.register_birth()
                    born = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                redis_outage.ok()
                pause = self.interval
            except outage.REDIS_DOWN as exc:
                pause = redis_outage.failed(exc)
            time.sleep(pause)
        with contextlib.suppress(*outage.REDIS_DOWN):
            self.stop()


def rq_log_level() -> str:
    level = os.environ.get(RQ_LOG_LEVEL_VARIABLE, "INFO").upper()
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"


class Worker(SimpleWorker):
    """RQ's SimpleWorker, telling a Redis outage once and stopping cleanly on a signal during one."""

    max_connection_wait_time = outage.LONGEST_PAUSE  # RQ's own retry while idle: back within seconds

    def _start_scheduler(
        self, burst=False, logging_level="INFO", date_format=DEFAULT_LOGGING_DATE_FORMAT, log_format=DEFAULT_LOGGING_FORMAT
    ):
        """RQ's own, with the Scheduler above in place of RQScheduler."""
        self.scheduler = Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()

    def __init__(self, *args, redis_outage: outage.Outage, stop: threading.Event, **kwargs):
        super().__init__(*args, **kwargs)
        self.redis_outage = redis_outage
        self.stop = stop

    def heartbeat(self, *args, **kwargs):
        try:
            result = super().heartbeat(*args, **kwargs)
        except outage.REDIS_DOWN as exc:
            self.redis_outage.failed(exc)
            raise
        self.redis_outage.ok()
        return result

    def request_stop(self, signum, frame):
        self.stop.set()
        try:
            super().request_stop(signum, frame)
        except outage.REDIS_DOWN:  # RQ asks Redis whether a job is running; with none reachable, stop now
            raise StopRequested() from None


class QuietRedisOutage(logging.Filter):
    """RQ logs every failed attempt to reach Redis, with a traceback; the Outage's one line per change replaces them."""

    def __init__(self, redis_outage: outage.Outage):
        super().__init__()
        self.redis_outage = redis_outage

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        errors = [record.exc_info[1]] if record.exc_info else [a for a in args if isinstance(a, BaseException)]
        if any(isinstance(e, outage.REDIS_DOWN) for e in errors):
            self.redis_outage.failed(errors[0])
            return False
        return True


def work(connection: Redis, burst: bool = False) -> None:
    """Run RQ workers one after another until stopped: after Redis went away, a new one once it is back."""
    stop = threading.Event()
    redis_outage = outage.Outage("Redis", log)
    logging.getLogger("rq.worker").addFilter(QuietRedisOutage(redis_outage))
    while True:
        worker = Worker(
            [Queue(name, connection=connection) for name in QUEUES], connection=connection, redis_outage=redis_outage, stop=stop
        )
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=rq_log_level())
        except outage.REDIS_DOWN as exc:  # RQ's clean-up could not reach Redis either
            redis_outage.failed(exc)
        if stop.is_set() or burst:
            return
        for signum in (signal.SIGTERM, signal.SIGINT):  # RQ's handlers belong to the worker that quit
            signal.signal(signum, lambda *_: stop.set())
        if not redis_outage.down:
            log.warning("the worker quit on an error (see above); starting a new one")
            stop.wait(outage.FIRST_PAUSE)
        while not stop.is_set():
            try:
                connection.ping()
            except outage.REDIS_DOWN as exc:
                stop.wait(redis_outage.failed(exc))
            else:
                redis_outage.ok()
                break
        if stop.is_set():
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler", action="store_true", help="run the cron scheduler instead of a worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("rq").setLevel(rq_log_level())
    logging.getLogger("pymorphy3").setLevel(logging.WARNING)  # «Loading dictionaries…» in every worker
    logging.getLogger("alembic").setLevel(logging.WARNING)  # «setup plugin …» seven times per process
    try:
        from campaigns import tasks

        app = tasks.get_app()  # validates the configuration once, up front
        connection = connect_redis(settings_of(app).redis_url)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.scheduler:
        from campaigns import cron

        cron.start(connection)
        return 0
    work(connection, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
