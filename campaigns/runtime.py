"""Process-level plumbing shared by the run command, the worker and the CLI."""

from __future__ import annotations

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
