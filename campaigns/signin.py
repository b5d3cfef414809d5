"""Who stays signed in, and how many wrong passwords are tolerated.

Sessions: every session and remember-me cookie carries the user's `session_key` (Advisor.get_id
gives "id:key"); `end_sessions` replaces the key, so every cookie issued before is refused at
its next request, on every device. Log-out, a password change and deactivation call it.

Failed log-ins: `LoginThrottle` limits them per client address and per account.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time

from limits import parse
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import Advisor


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def end_sessions(session: Session, advisor_id: int) -> None:
    """Every session and remember cookie of this user stops working (the caller commits)."""
    session.execute(update(Advisor).where(Advisor.id == advisor_id).values(session_key=new_session_key()))


def ensure_session_key(session: Session, user: Advisor) -> None:
    """A user added by hand in SQL has no key yet: give one before their first session (the caller commits)."""
    if not user.session_key:
        user.session_key = new_session_key()
        session.flush()


def user_for_session(session: Session, user_id: str) -> Advisor | None:
    """The user a session or remember cookie names ("id:key"), if its key is still the user's and the user is active."""
    advisor_id, _, key = user_id.partition(":")
    if not advisor_id.isdigit() or not key:
        return None  # a cookie from before session keys, or a forged one
    user = session.get(Advisor, int(advisor_id))
    if (
        user is None
        or not user.active
        or not user.session_key
        or not hmac.compare_digest(user.session_key.encode(), key.encode())
    ):
        return None
    return user


# ------------------------------------------------------------------------ failed log-ins

# Failed log-ins tolerated in a moving window: from one client address, and for one account from
# anywhere (a guesser spreading over many addresses). Only failures count, and an attempt refused
# because of a limit is not checked and not counted, so hammering a lock does not prolong it.
ADDRESS_LIMITS = ("10 per minute", "50 per hour")
ACCOUNT_LIMITS = ("20 per hour",)


class LoginThrottle:
    """Failed log-ins per address and per account, in the limiter's storage (Redis)."""

    def __init__(self, storage):
        self.window = MovingWindowRateLimiter(storage)

    def _buckets(self, address: str, email: str):
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no address in Redis keys
        yield from ((parse(limit), "campaigns-login-address", address) for limit in ADDRESS_LIMITS)
        yield from ((parse(limit), "campaigns-login-account", account) for limit in ACCOUNT_LIMITS)

    def wait(self, address: str, email: str) -> int:
        """0 when a log-in may be tried now, else the seconds until it may."""
        waits = [
            self.window.get_window_stats(item, *ids).reset_time - time.time()
            for item, *ids in self._buckets(address, email)
            if not self.window.test(item, *ids)
        ]
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, address: str, email: str) -> None:
        for item, *ids in self._buckets(address, email):
            self.window.hit(item, *ids)
