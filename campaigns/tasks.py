"""RQ job functions: thin shells that run one domain function inside the app context.

Jobs carry only ids; the database holds the truth. The app is built once per worker
process and reused by every job it runs.
"""
from __future__ import annotations

import functools
import time

_app = None


def get_app():
    global _app
    if _app is None:
        from . import create_app

        _app = create_app()
    return _app


def in_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with get_app().app_context():
            return func(*args, **kwargs)

    return wrapper


SCHEDULER_HEARTBEAT_KEY = "campaigns:scheduler:heartbeat"


@in_app_context
def scheduler_heartbeat() -> float:
    """Proves that the scheduler ticks and a worker runs its jobs (shown by /healthz)."""
    from .extensions import redis_client

    now = time.time()
    redis_client().set(SCHEDULER_HEARTBEAT_KEY, now, ex=3600)
    return now
