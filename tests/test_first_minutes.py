"""The first five minutes: `./run` on an empty database shows real mails in the outbox at once,
whatever the hour or the day, and its console stays readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns import calendar, demo, dispatch, pacing, planner
from campaigns.extensions import redis_client
from campaigns.models import Delivery, DeliveryStatus
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
MOSCOW = ZoneInfo("Europe/Moscow")


def test_the_demo_mails_are_due_at_once_on_a_sunday_night_and_pacing_leaves_them_alone(session, settings):
    sunday_night = datetime(2026, 12, 6, 3, 10, tzinfo=MOSCOW)
    assert not calendar.is_working_day(sunday_night.date())
    demo.load(session, settings)
    first = demo.prepare_first_mails(session, settings, now=sunday_night.astimezone(UTC))
    session.commit()
    assert len(first) == demo.FIRST_MAILS

    # The scheduler's first round that night: planning and pacing move none of them to Monday.
    planner.plan_day(session, sunday_night.date(), settings)
    pacing.pace_day(session, sunday_night.date(), settings, now=sunday_night.astimezone(UTC))
    session.commit()
    ids = [d.id for d in first]
    queued = dispatch.dispatch(
        session, settings, now=sunday_night.astimezone(UTC) + timedelta(seconds=30), queue=dispatch.mail_queue(redis_client())
    )
    assert queued == demo.FIRST_MAILS
    session.expire_all()
    assert {d.status for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))} == {DeliveryStatus.QUEUED}
    # Nobody else's mail was given a moment out of hours: the rest of the demo waits for Monday's working hours.
    others = session.scalars(
        select(Delivery.send_at).where(Delivery.status == DeliveryStatus.PLANNED, Delivery.send_at.is_not(None))
    ).all()
    start, _end = pacing.window(calendar.next_working_day(sunday_night.date()), settings)
    assert all(moment >= start for moment in others)


def test_the_demo_rule_names_today_even_on_the_29th_of_february():
    for day in (datetime(2028, 2, 29).date(), datetime(2026, 12, 31).date(), datetime(2026, 1, 1).date()):
        assert calendar.parse_rule(demo.first_mails_rule(day)).occurrence(day.year) == day


def _utc_offset_for_night() -> str:
    """A TIMEZONE in which it is about 3 at night right now (outside any working hours)."""
    hours = (3 - datetime.now(UTC).hour) % 24
    hours = hours - 24 if hours > 14 else hours
    return f"Etc/GMT{'-' if hours >= 0 else '+'}{abs(hours)}"  # the Etc zones' signs are inverted


@pytest.mark.slow
def test_run_on_a_fresh_instance_sends_mails_within_two_minutes_at_night_with_a_quiet_console(tmp_path):
    instance, home = tmp_path / "instance", tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAIL_URL", "PUBLIC_URL", "XDG_RUNTIME_DIR")
    }
    env.update(INSTANCE_PATH=str(instance), BIND=f"127.0.0.1:{port}", HOME=str(home), TIMEZONE=_utc_offset_for_night())
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaigns.launcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    answered_at_banner: list[object] = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "Campaigns is running at" in line:  # the URL printed must already answer
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                        answered_at_banner.append(response.status)
                except urllib.error.HTTPError as exc:
                    answered_at_banner.append(exc.code)
                except OSError as exc:
                    answered_at_banner.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    outbox = instance / "outbox" / "new"
    try:
        deadline = started + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if outbox.is_dir() and len(list(outbox.iterdir())) >= demo.FIRST_MAILS:
                break
            time.sleep(0.5)
        assert outbox.is_dir() and len(list(outbox.iterdir())) >= demo.FIRST_MAILS, "".join(lines)[-3000:]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not answered_at_banner:
            time.sleep(0.2)
        time.sleep(15)  # a few more rounds of the periodic jobs: their lines must not show
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(5)
    output = "".join(lines)
    assert answered_at_banner and answered_at_banner[0] in (200, 503), answered_at_banner
    assert "mail batch: 5 sent" in output, output[-3000:]
    # RQ's job-by-job lines (two per job, a job every few seconds) are not shown.
    assert "Job OK" not in output and "campaigns.tasks.flush_clicks" not in output and "Enqueued job" not in output
    assert "setup plugin" not in output  # Alembic's start-up chatter from every worker process
    assert not (home / ".gunicorn").exists(), "gunicorn opened a control socket in the home folder"
