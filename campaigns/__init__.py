"""Tagged, targeted e-mail campaigns for a B2B sales team."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask
from redis import Redis
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        SETTINGS=settings,  # read through config.settings_of(app) / current_settings(), typed
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        # Flask-Login's "remember me": a month, not its default year; revoked with the session key.
        REMEMBER_COOKIE_DURATION=timedelta(days=30),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        RATELIMIT_STORAGE_URI=None,
    )

    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider's; the API speaks Russian

    # Local: importing the package (every module's parent) stays light; the app's parts load with an app.
    from .db import db
    from .extensions import csrf, limiter, limiter_storage_uri, login_manager

    db.init_app(app)
    app.extensions["campaigns_redis"] = Redis.from_url(settings.redis_url, socket_timeout=5)
    app.config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(settings.redis_url)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from . import accesslog, cli, web  # local, as above

    web.register(app)
    cli.register(app)
    accesslog.install_werkzeug_filter()
    from . import dns_records  # local, as above

    for warning in dns_records.startup_warnings(settings):
        logging.getLogger(__name__).warning(warning)
    if settings.trusted_proxies:
        # Outermost, in front of the /c/ fast path too: the client's address and scheme as the
        # nearest TRUSTED_PROXIES proxies saw them; without it X-Forwarded-* are ignored (anyone can send them).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]  # Flask's documented way
    return app
