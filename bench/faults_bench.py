"""Faults: N deliveries sent by two real workers and the scheduler on PostgreSQL while a chaos loop
kills a random worker (kill -9, then starts it again, as a supervisor would) 20 times, restarts Redis
empty twice and terminates the workers' database connections for a minute; clicks are queued the
way the redirect queues them all along. Then it waits until nothing is left in flight.

    .venv/bin/python bench/faults_bench.py [--quick]     # BENCH_SCALE=0.1 for a tenth of 10,000

It prints what the sink accepted, distinct recipients (one offer: a recipient twice is a mail sent
twice), duplicates, `sent` and `unknown` rows (and how many of those the sink did accept),
deliveries left `planned`/`queued`/`sending`/`retrying`, clicks queued vs stored (those still in
Redis when it was restarted empty are counted apart: a Redis loss may lose them) and the minutes
from the last fault until every fault was repaired (nothing in flight waits for the reconciler any
more) and until everything was sent. Deliveries `queued` whose jobs a Redis loss took, and the
deliveries of a killed worker's job, wait for the reconciler: a minute's grace, then its next run
(every minute); a killed worker's hand (campaigns/inhand.py) expires within 10 s. Expect a run of
about 15 minutes at full scale on a busy two-core machine, most of it sending the 10,000 mails.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness
from send_bench import build_data
from smtp_sink import Sink

FULL = 10_000
WORKERS = 2
KILLS = 20
REDIS_RESTARTS = 2
DB_OUTAGE_SECONDS = 60
CLICKS_PER_SECOND = 20
SEED = 20261202
APP_NAME = "faults_bench"  # application_name of the children's database connections (the ones terminated)
RECOVERY_LIMIT_MINUTES = 30  # give up waiting after this long
# The reconciler re-enqueues `queued` rows whose jobs a Redis loss took, and marks a killed worker's
# `sending` row unknown, a minute after their last change, on its next run (every minute): every fault
# repaired within the reconciler's former period of 5 minutes. Sending what is left after that takes
# as long as the workers need for it (printed too: the backlog at the last fault, the minutes to send it).
REPAIR_TARGET_MINUTES = 5


# ------------------------------------------------------------------ the processes


class Redis:
    """The private Redis, stoppable and restartable empty."""

    def __init__(self, folder: Path):
        from campaigns.launcher import start_private_redis

        self.folder, self._start = folder, start_private_redis
        self.url = f"unix://{folder / 'redis.sock'}"
        self.proc = start_private_redis(folder)

    def restart_empty(self) -> None:
        self.proc.kill()
        self.proc.wait()
        (self.folder / "redis.rdb").unlink(missing_ok=True)
        time.sleep(2)  # an outage, not a blink
        self.proc = self._start(self.folder)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Fleet:
    """Two workers and the scheduler; a killed worker is started again at once, like under a supervisor."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        self.workers = [self._start(["worker.py"], f"worker{i}") for i in range(WORKERS)]
        self.scheduler = self._start(["worker.py", "--scheduler"], "scheduler")
        self.started = WORKERS + 1

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [harness.PYTHON, str(harness.ROOT / args[0]), *args[1:]],
            env=self.env,
            cwd=harness.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_one(self, rng: random.Random) -> None:
        i = rng.randrange(WORKERS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()
        self.workers[i] = self._start(["worker.py"], f"worker{i}")

    def exited(self) -> list[str]:
        procs = {f"worker{i}": p for i, p in enumerate(self.workers)} | {"scheduler": self.scheduler}
        return [f"{name} (code {p.returncode})" for name, p in procs.items() if p.poll() is not None]

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def terminate_connections(admin) -> int:
    from sqlalchemy import text

    with admin.connect() as conn:
        return len(
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"), {"name": APP_NAME}
            ).all()
        )


def database_outage(admin, started: float) -> None:
    """DB_OUTAGE_SECONDS of every connection of the children terminated as soon as it is made."""
    until = time.monotonic() + DB_OUTAGE_SECONDS
    terminated = 0
    while time.monotonic() < until:
        terminated += terminate_connections(admin)
        time.sleep(0.2)
    print(
        f"  {time.monotonic() - started:5.0f} s  {terminated} database connections terminated over {DB_OUTAGE_SECONDS} s",
        flush=True,
    )


# ------------------------------------------------------------------ the run


def main() -> int:
    from sqlalchemy import create_engine, func, select

    n = max(200, int(FULL * harness.scale()))
    rng = random.Random(SEED)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    (work / "redis").mkdir()
    (work / "logs").mkdir()
    redis = Redis(work / "redis")
    try:
        accepted_path = work / "accepted.txt"
        with Sink(record_to=str(accepted_path)) as sink, harness.throwaway_schema("faults") as url:
            sink_url = sink.url
            child_url = f"{url}&application_name={APP_NAME}"
            env = harness.app_env(child_url, redis.url, work, MAIL_URL=sink_url, RELAY_RATE_PER_MINUTE="100000000")
            settings = harness.settings_for(harness.app_env(url, redis.url, work, MAIL_URL=sink_url))
            from campaigns import clicks, create_app
            from campaigns.db import db
            from campaigns.models import Click, Contact, Delivery, DeliveryStatus, Link

            app = create_app(settings)
            with app.app_context():
                build_data(db.session, n)
                link_ids = db.session.scalars(select(Link.id)).all()
                delivery_ids = db.session.scalars(select(Delivery.id)).all()
                db.session.remove()
            print(
                f"faults: {n:,} deliveries, {WORKERS} workers and the scheduler; {KILLS} kills, "
                f"{REDIS_RESTARTS} empty Redis restarts, {DB_OUTAGE_SECONDS} s of terminated database connections",
                flush=True,
            )

            fleet = Fleet(env, work / "logs")
            admin = create_engine(harness.base_url(), isolation_level="AUTOCOMMIT")
            clicks_queued, clicks_in_lost_redis = 0, 0
            stop_clicks = threading.Event()
            redis_lock = threading.Lock()

            def click_loop():
                nonlocal clicks_queued
                from redis import Redis as Client

                click_rng = random.Random(SEED + 1)
                while not stop_clicks.wait(1 / CLICKS_PER_SECOND):
                    with redis_lock:
                        try:
                            client = Client.from_url(redis.url, socket_timeout=1)
                            client.rpush(clicks.QUEUE_KEY, clicks_event(click_rng, delivery_ids, link_ids))
                            clicks_queued += 1
                        except Exception:  # noqa: BLE001 — Redis away: the redirect would drop that click too
                            pass

            clicker = threading.Thread(target=click_loop, daemon=True)
            clicker.start()
            started = time.monotonic()

            # The chaos: kills spread over the first minutes, two Redis losses, a minute of dropped connections.
            events = [("kill", 5 + i * 6) for i in range(KILLS)]
            events += [("redis", 25 + i * 50) for i in range(REDIS_RESTARTS)]
            events += [("database", 45)]
            for kind, at in sorted(events, key=lambda e: e[1]):
                time.sleep(max(0.0, started + at - time.monotonic()))
                if kind == "kill":
                    fleet.kill_one(rng)
                elif kind == "redis":
                    with redis_lock:
                        from redis import Redis as Client

                        with contextlib.suppress(Exception):
                            client = Client.from_url(redis.url, socket_timeout=1)
                            clicks_in_lost_redis += client.llen(clicks.QUEUE_KEY) + client.llen(clicks.PROCESSING_KEY)
                        redis.restart_empty()
                    print(f"  {time.monotonic() - started:5.0f} s  Redis restarted empty", flush=True)
                else:
                    outage = threading.Thread(target=database_outage, args=(admin, started), daemon=True)
                    outage.start()
            outage.join()
            last_fault = time.monotonic()
            stop_clicks.set()
            clicker.join()
            print(f"  {last_fault - started:5.0f} s  chaos over ({KILLS} workers killed); waiting for recovery", flush=True)

            in_flight = (DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
            left_at_last_fault, stuck_until = None, last_fault
            with app.app_context():
                while True:
                    left = db.session.scalar(select(func.count()).where(Delivery.status.in_(in_flight)))
                    stored = db.session.scalar(select(func.count()).select_from(Click))
                    if left_at_last_fault is None:
                        left_at_last_fault = left
                    if waiting_for_repair(db.session, redis.url) > 0:
                        stuck_until = time.monotonic()
                    db.session.remove()
                    settled = left == 0 and stored >= clicks_queued - clicks_in_lost_redis
                    waited = (time.monotonic() - last_fault) / 60
                    if settled or waited > RECOVERY_LIMIT_MINUTES:
                        break
                    time.sleep(5)
                recovery = (time.monotonic() - last_fault) / 60
                repaired = (stuck_until - last_fault) / 60
                counts = dict(db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
                unknown_recipients = set(
                    db.session.scalars(
                        select(Contact.email)
                        .join(Delivery, Delivery.contact_id == Contact.id)
                        .where(Delivery.status == DeliveryStatus.UNKNOWN)
                    ).all()
                )
                stored = db.session.scalar(select(func.count()).select_from(Click))
                db.session.remove()
            alive = fleet.exited()
            fleet.stop()
            admin.dispose()
            db.engine.dispose()

        accepted = [line.rstrip("\n") for line in accepted_path.read_text().splitlines() if line.strip()]
    finally:
        redis.stop()
    distinct = len(set(accepted))
    duplicates = len(accepted) - distinct
    unknown = counts.get(DeliveryStatus.UNKNOWN, 0)
    unknown_accepted = len(unknown_recipients & set(accepted))
    left = sum(counts.get(s, 0) for s in in_flight)
    accounted = (*in_flight, DeliveryStatus.SENT, DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED)
    lost_clicks = max(0, clicks_queued - clicks_in_lost_redis - stored)
    print(f"  sink accepted {len(accepted):,} mails, {distinct:,} distinct (recipient, offer) pairs, {duplicates} duplicates")
    print(
        f"  sent {counts.get(DeliveryStatus.SENT, 0):,}, unknown {unknown} (the sink accepted {unknown_accepted} "
        f"of those), failed {counts.get(DeliveryStatus.FAILED, 0)}, left in flight {left}; other: "
        f"{', '.join(f'{s.value} {c}' for s, c in counts.items() if s not in accounted) or 'none'}"
    )
    print(
        f"  clicks queued {clicks_queued:,}, stored {stored:,}; {clicks_in_lost_redis} were in Redis when it was "
        f"restarted empty; lost otherwise {lost_clicks}"
    )
    print(
        f"  repaired {repaired:.1f} min after the last fault (from then on every delivery in flight was in a "
        f"waiting job or a live worker's hand); {left_at_last_fault:,} deliveries were in flight at the last fault"
    )
    print(
        f"  full recovery (everything sent or settled) {recovery:.1f} min after the last fault; processes that "
        f"exited by themselves: {', '.join(alive) or 'none'}"
    )
    all_out = counts.get(DeliveryStatus.SENT, 0) + unknown == n  # nothing cancelled, held or failed on the way
    met = duplicates == 0 and left == 0 and lost_clicks == 0 and not alive and repaired <= REPAIR_TARGET_MINUTES and all_out
    if met:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"  logs kept in {work / 'logs'}")
    harness.emit(
        "6. faults",
        measured=f"{duplicates} duplicates, {left} left, {unknown} unknown ({unknown_accepted} accepted), "
        f"{lost_clicks} clicks lost; repaired in {repaired:.1f} min, all sent in {recovery:.1f}",
        ceiling="—",
        ratio=None,
        ratio_text="—",
        target=f"0 duplicates, 0 left, 0 clicks lost outside a Redis loss, repaired ≤ {REPAIR_TARGET_MINUTES} min",
        met=met,
        n=n,
    )
    return 0


def waiting_for_repair(session, redis_url: str) -> int:
    """Deliveries in flight that nothing will move on without the reconciler: `queued` in no waiting RQ job
    and no live worker's hand, or `sending` in no live worker's hand (those changed in the last 10 s,
    e.g. just dispatched and being enqueued, not counted). The reconciler's own view (reconcile.py)."""
    from datetime import timedelta

    from redis import Redis as Client
    from rq import Queue
    from rq.job import Job
    from sqlalchemy import select

    from campaigns import inhand, reconcile
    from campaigns.db import utcnow
    from campaigns.dispatch import MAIL_QUEUE
    from campaigns.models import Delivery, DeliveryStatus

    now = utcnow()
    rows = session.execute(
        select(Delivery.id, Delivery.status).where(
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            Delivery.updated_at < now - timedelta(seconds=10),
        )
    ).all()
    session.commit()
    if not rows:
        return 0
    client = Client.from_url(redis_url, socket_timeout=5)
    try:
        hands = inhand.in_hand(client, now.timestamp())
        if hands is None:
            return len(rows)  # too fresh a Redis to tell: count it as not yet repaired
        queued = [i for i, status in rows if status == DeliveryStatus.QUEUED]
        queue = Queue(MAIL_QUEUE, connection=client)
        waiting = reconcile._waiting_in_rq(queue, queued, now, started_count=False)
        # A job a worker is taking this very moment sits in RQ's intermediate list between dequeue and start.
        for job in Job.fetch_many([j.decode() for j in client.lrange(f"{queue.key}:intermediate", 0, -1)], connection=client):
            if job is not None and job.args:
                waiting.update(set(job.args[0] if isinstance(job.args[0], list) else [job.args[0]]) & set(queued))
    finally:
        client.close()
    return sum(1 for i, status in rows if i not in hands and (status == DeliveryStatus.SENDING or i not in waiting))


def clicks_event(rng: random.Random, delivery_ids: list[int], link_ids: list[int]) -> str:
    import json

    return json.dumps(
        {
            "d": rng.choice(delivery_ids),
            "l": rng.choice(link_ids),
            "t": round(time.time(), 3),
            "m": "GET",
            "ip": "95.165.10.20",
            "ua": "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Firefox/130.0",
        }
    )


if __name__ == "__main__":
    sys.exit(main())
