"""The run command: the whole system comes up on embedded defaults and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


def _processes_with_env(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes() or marker.encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _child(parent: int, script: str) -> int | None:
    """The pid of `parent`'s child running exactly `python <script>` (no further arguments)."""
    for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            args = (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")[1:-1]
        except OSError:
            continue
        if [a.decode() for a in args] == [script]:
            return int(pid)
    return None


@pytest.mark.slow
def test_the_run_command_brings_everything_up_restarts_a_dead_child_and_ctrl_c_stops_it_all(tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAIL_URL", "PUBLIC_URL")}
    env.update(INSTANCE_PATH=str(instance), BIND=f"127.0.0.1:{port}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaigns.launcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    health = None
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = (response.status, json.load(response))
                    break
            except OSError:
                time.sleep(0.5)
        assert health == (200, {"status": "ok", "database": "ok", "redis": "ok"}), proc.stdout and proc.poll()
        # The scheduler enqueues its heartbeat and the worker runs it.
        from redis import Redis

        redis = Redis(unix_socket_path=str(instance / "redis.sock"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not redis.get("campaigns:scheduler:heartbeat"):
            time.sleep(0.5)
        assert redis.get("campaigns:scheduler:heartbeat"), "the scheduler and the worker did not run a job"
        for secret_path in ("/c/2n9c-7.SecretClickToken", "/u/3k.SecretUnsubToken"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{secret_path}", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
        assert _processes_with_env(str(instance)), "expected the system's processes"

        # A child killed outright is started again; the rest runs on, and the new worker works.
        worker = _child(proc.pid, "worker.py")
        os.killpg(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _child(proc.pid, "worker.py") in (None, worker):
            time.sleep(0.2)
        assert _child(proc.pid, "worker.py") not in (None, worker), "the killed worker was not started again"
        assert proc.poll() is None, "the run command stopped when one child died"
        from rq import Queue

        redis.delete("campaigns:scheduler:heartbeat")
        Queue("default", connection=redis).enqueue("campaigns.tasks.scheduler_heartbeat")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not redis.get("campaigns:scheduler:heartbeat"):
            time.sleep(0.2)
        assert redis.get("campaigns:scheduler:heartbeat"), "the restarted worker did not run a job"
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "demo@" not in output and "anna@demo.example" in output and f"http://127.0.0.1:{port}/" in output
    time.sleep(0.5)
    assert _processes_with_env(str(instance)) == [], "stray processes after Ctrl-C"
    assert (instance / "campaigns.db").exists() and not (instance / "redis.sock").exists()
    # The access log shows where people went, never the tokens; instance/ is the owner's alone.
    assert "GET /c/*** HTTP" in output and "GET /u/*** HTTP" in output, output[-3000:]
    assert "Secret" not in output
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    # The database and whatever journal SQLite left beside it (-wal/-shm after a killed child) are the owner's only.
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in instance.glob("campaigns.db*")}
    assert modes.get("campaigns.db") == oct(0o600) and set(modes.values()) == {oct(0o600)}, modes
