"""Flask extensions, created unbound and attached in create_app()."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from redis import Redis

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Войдите, чтобы открыть эту страницу."
login_manager.login_message_category = "info"

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def limiter_storage_uri(redis_url: str) -> str:
    # The limits library spells a Unix socket URL "redis+unix://".
    return "redis+unix://" + redis_url[len("unix://") :] if redis_url.startswith("unix://") else redis_url


def redis_client() -> Redis:
    """The app's Redis connection (one pool per app)."""
    return current_app.extensions["campaigns_redis"]
