"""RQ worker entry point: `python worker.py` runs a worker, `--scheduler` the cron scheduler.

Scale out by starting more workers against the same Redis and database. The worker
does not fork per job (SimpleWorker): jobs are many and small, and each reuses the
process's app, database pool and SMTP connection.
"""
from __future__ import annotations

import argparse
import logging
import sys

from rq import Queue, SimpleWorker

from campaigns.config import ConfigError
from campaigns.runtime import connect_redis

QUEUES = ["default", "mail"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler", action="store_true", help="run the cron scheduler instead of a worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        from campaigns import tasks

        app = tasks.get_app()  # validates the configuration once, up front
        connection = connect_redis(app.config["SETTINGS"].redis_url)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.scheduler:
        from campaigns import cron

        cron.start(connection)
        return 0
    queues = [Queue(name, connection=connection) for name in QUEUES]
    SimpleWorker(queues, connection=connection).work(burst=args.burst, with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
