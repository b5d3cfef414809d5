"""Process-level plumbing shared by the run command, the worker and the CLI."""

from __future__ import annotations

import gc

from redis import Redis
from redis.exceptions import RedisError

from .config import ConfigError, masked_url


def connect_redis(url: str, timeout: float = 5.0) -> Redis:
    """A pinged Redis connection, or ConfigError naming REDIS_URL."""
    connection = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=30)
    try:
        connection.ping()
    except (RedisError, OSError) as exc:
        raise ConfigError(f"REDIS_URL: cannot reach Redis at {masked_url(url)} ({exc})") from None
    return connection


def settle_heap() -> None:
    """Move every object alive now (modules, the app, its templates and statements) out of the
    garbage collector's reach: a full collection then walks only what requests create, a few
    milliseconds instead of the 120–150 ms a whole web process's heap costs at random requests
    (bench/pages_bench.py's slow single samples). Called once per gunicorn worker after the app
    is loaded (gunicorn.conf.py's post_worker_init); what it freezes lives as long as the process."""
    gc.collect()
    gc.freeze()
