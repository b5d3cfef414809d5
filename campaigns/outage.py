"""Riding out an outage of Redis or the database in a long-running process.

The scheduler, the workers and the periodic jobs do not exit when Redis or the database
stops answering: they wait with back-off and carry on when it is back. The log says so in
one line per change of state ("Redis unreachable, retrying …", "Redis back"), however long
the outage and however many attempts it takes.
"""

from __future__ import annotations

import logging
import threading

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

# Redis not answering (BusyLoadingError, a Redis still loading its data, is a ConnectionError).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
FIRST_PAUSE = 0.5  # seconds; doubled after each failed attempt…
LONGEST_PAUSE = 5.0  # …up to this: a service back is noticed within seconds, and a check costs nothing


def database_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked": another process is writing. Contention, not an outage: try again."""
    return isinstance(exc, OperationalError) and "is locked" in str(exc.orig or exc)


def database_down(exc: BaseException) -> bool:
    """The database did not answer (refused, dropped or unopenable), as opposed to refusing a statement
    or being busy (database_locked)."""
    if database_locked(exc):
        return False
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class Outage:
    """One service as one process sees it: up, or down since the first failure."""

    def __init__(self, service: str, log: logging.Logger):
        self.service = service
        self.log = log
        self.pause = FIRST_PAUSE
        self.down = False
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> float:
        """Note a failed attempt; returns the seconds to wait before the next one."""
        with self._lock:
            if not self.down:
                self.down = True
                self.log.warning("%s unreachable, retrying (%s)", self.service, str(exc).strip() or type(exc).__name__)
            pause, self.pause = self.pause, min(self.pause * 2, LONGEST_PAUSE)
            return pause

    def ok(self) -> None:
        """Note a successful attempt."""
        with self._lock:
            self.pause = FIRST_PAUSE
            if self.down:
                self.down = False
                self.log.warning("%s back", self.service)
