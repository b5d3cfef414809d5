"""Who stays signed in, and how many wrong passwords are tolerated.

Sessions: every session and remember-me cookie carries the user's `session_key` (Advisor.get_id
gives "id:key"); `end_sessions` replaces the key, so every cookie issued before is refused at
its next request, on every device. Log-out, a password change and deactivation call it.
"""
from __future__ import annotations

import hmac
import secrets

from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import Advisor


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def end_sessions(session: Session, advisor_id: int) -> None:
    """Every session and remember cookie of this user stops working (the caller commits)."""
    session.execute(update(Advisor).where(Advisor.id == advisor_id).values(session_key=new_session_key()))


def user_for_session(session: Session, user_id: str) -> Advisor | None:
    """The user a session or remember cookie names ("id:key"), if its key is still the user's and the user is active."""
    advisor_id, _, key = user_id.partition(":")
    if not advisor_id.isdigit() or not key:
        return None  # a cookie from before session keys, or a forged one
    user = session.get(Advisor, int(advisor_id))
    if user is None or not user.active or not hmac.compare_digest(user.session_key.encode(), key.encode()):
        return None
    return user
