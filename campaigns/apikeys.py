"""API keys: a user's own keys for the JSON API (`Authorization: Bearer <token>`).

- `create_key` makes a key and returns its token once; only the token's SHA-256 is stored (a
  token carries 256 random bits, so a plain hash is as good as a slow one here).
- `user_for_token` is the one check on every keyed request: the key exists, is not revoked and
  its user is active — a key acts with its user's role and rules, nothing more.
- `RateLimit` counts requests per key and minute in Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .db import utcnow
from .models import Advisor, ApiKey

TOKEN_PREFIX = "ck_"
# last_used_at is written at most this often per key: every request would be a write.
TOUCH_EVERY = timedelta(minutes=1)
DEFAULT_RATE_PER_MINUTE = 120


class ApiKeyError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, user: Advisor, name: str) -> tuple[ApiKey, str]:
    """A new key of `user` and its token (shown once, never stored). The caller commits."""
    name = " ".join((name or "").split())
    if not name:
        raise ApiKeyError({"name": "Назовите ключ: для чего он (например, «CRM» или «телефония»)"})
    if len(name) > 100:
        raise ApiKeyError({"name": "Название ключа — не длиннее 100 символов"})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, name=name, prefix=token[:10], token_hash=token_hash(token))
    session.add(key)
    session.flush()
    return key, token


def user_keys(session: Session, user: Advisor) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        )
    )


def revoke_key(session: Session, user: Advisor, key_id: int) -> ApiKey | None:
    """Revoke one of `user`'s own keys (None: no such key of theirs). The caller commits."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def revoke_all(session: Session, user_id: int, now: datetime | None = None) -> None:
    """Every live key of a user is revoked (deactivation: a later reactivation does not bring them back)."""
    session.execute(
        update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now or utcnow())
    )


def user_for_token(session: Session, token: str, now: datetime | None = None) -> tuple[ApiKey, Advisor] | None:
    """The live key and its active user for a presented token, else None (unknown, revoked, user deactivated)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == digest))
    if key is None or not hmac.compare_digest(key.token_hash, digest) or key.revoked_at is not None:
        return None
    user = session.get(Advisor, key.user_id)
    if user is None or not user.active:
        return None
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        key.last_used_at = now
        session.commit()
    return key, user


def _clock() -> float:
    return time.time()


class RateLimit:
    """Requests per key in the current minute (a Redis counter that expires with its minute)."""

    def __init__(self, redis, per_minute: int = DEFAULT_RATE_PER_MINUTE):
        self.redis, self.per_minute = redis, per_minute

    def hit(self, key_id: int, now: float | None = None) -> int:
        """0 when the request may go on, else the seconds until the next minute starts."""
        now = _clock() if now is None else now
        minute = int(now // 60)
        name = f"campaigns:api:rate:{key_id}:{minute}"
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count = pipe.execute()[0]
        if count > self.per_minute:
            return max(1, 60 - int(now % 60))
        return 0
