"""Public endpoints of the mails: /c/<token> (tracked link) and /u/<token> (unsubscribe).

No log-in, no CSRF token (the signed token is the proof), no rate limit (a click must
always answer at once). A token that does not verify gets a plain 404 page, never a
redirect: /c/ sends people only to URLs stored for the offer.

/c/ is the one URL whose speed matters (every click of every mail, and the scanners' bursts), so it
is not a Flask view: `ClickRedirect` sits in front of the Flask app (app.wsgi_app, mounted when this
blueprint is registered, so `./run`, gunicorn and the test client all get it) and answers /c/ with no
request context, session, login or limiter hooks — verify the token, look the target up in the
in-process cache, push the event to Redis, answer. Everything else goes on to Flask.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template, request
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from werkzeug.wrappers import Request

from .. import clicks, consent, testlinks, tracking
from ..config import settings_of
from ..db import db
from ..extensions import csrf, limiter
from ..models import Delivery
from .security import SECURITY_HEADERS

bp = Blueprint("track", __name__)

CLICK_PREFIX = "/c/"
# /c/ answers without Flask, so it adds the app's security headers itself.
_HEADERS = list(SECURITY_HEADERS)
_HEADERS_BUT_REFERRER = [(name, value) for name, value in SECURITY_HEADERS if name != "Referrer-Policy"]
_EMPTY: list[bytes] = []
CLICK_REDIS_TIMEOUT = 0.5  # seconds a click waits for Redis before the person is redirected anyway


def click_redis(url: str) -> Redis:
    """The click path's own Redis client (one connection pool per process), which gives up fast.

    redis-py's default client retries ten times with back-off: seconds of a blank tab for the
    person if Redis is down. A click gives Redis half a second and retries once, only a broken
    connection (a pooled one Redis closed) — never a timeout, which could queue the click twice.
    """
    return Redis.from_url(
        url,
        socket_timeout=CLICK_REDIS_TIMEOUT,
        socket_connect_timeout=CLICK_REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


class ClickRedirect:
    """WSGI middleware answering /c/<token>; every other path goes to the wrapped Flask app unchanged."""

    def __init__(self, app: Flask, wrapped):
        self.app = app
        self.wrapped = wrapped
        self._pages: dict[str, bytes] = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CLICK_PREFIX):
            return self.wrapped(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0"), *_HEADERS])
            return _EMPTY
        app = self.app
        parsed = tracking.parse_click_token(path[len(CLICK_PREFIX) :], settings_of(app).secret_key)
        if parsed is None:
            return self._not_found(environ, start_response)
        delivery_id, link_id = parsed
        if testlinks.is_test(delivery_id):  # a test send's or the preview's link: it works, nobody is counted
            return self._test_redirect(environ, start_response, link_id)
        target = clicks.cached_target(delivery_id, link_id)
        if target is clicks.UNCACHED:  # the first click of a link in this process (or a minute later): a read by key
            with app.app_context():  # (or, the database being away, the link's copy in Redis)
                target = clicks.resolve_target(db.session, delivery_id, link_id, redis=app.extensions["campaigns_click_redis"])
        if target is None:
            return self._not_found(environ, start_response)
        # Staff opening a stored mail from a contact's card follow the same links; those
        # clicks are not the client's. The signed session cookie says so without a query.
        if not self._staff(environ):
            forwarded = environ.get("HTTP_X_FORWARDED_FOR")
            # Only used to recognise a gateway's network; behind a proxy the first hop is the client.
            ip = forwarded.split(",", 1)[0].strip() if forwarded else environ.get("REMOTE_ADDR")
            clicks.record_click(
                app.extensions["campaigns_click_redis"],
                delivery_id,
                link_id,
                method=method,
                ip=ip,
                user_agent=environ.get("HTTP_USER_AGENT"),
            )
        if target is clicks.TRAP:
            return self._not_found(environ, start_response)
        if target is clicks.UNKNOWABLE:  # queued all the same: the flush checks the pair once the database is back
            return self._page(
                environ, start_response, "503 Service Unavailable", "track/unavailable.html", [("Retry-After", "60")]
            )
        # Sent as given: werkzeug's own redirect would re-quote Location through iri_to_uri (IDNA 2003,
        # and "[]{}|^" a browser keeps); tracking.browser_uri already made it exactly what the browser requests.
        start_response(
            "302 Found",
            [
                ("Location", tracking.browser_uri(target)),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),  # the token stays ours
                ("Content-Length", "0"),
                *_HEADERS_BUT_REFERRER,
            ],
        )
        return _EMPTY

    def _test_redirect(self, environ, start_response, link_id: int):
        with self.app.app_context():
            target = testlinks.target(db.session, link_id)
        if target is None:
            return self._not_found(environ, start_response)
        start_response(
            "302 Found",
            [
                ("Location", tracking.browser_uri(target)),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                testlinks.TEST_HEADER,
                ("Content-Length", "0"),
                *_HEADERS_BUT_REFERRER,
            ],
        )
        return _EMPTY

    def _staff(self, environ) -> bool:
        """A valid Flask-Login session rides along (a colleague logged in to this app)."""
        name = self.app.config["SESSION_COOKIE_NAME"]
        if name + "=" not in environ.get("HTTP_COOKIE", ""):
            return False  # a client's browser: no cookie of ours, nothing to verify
        session = self.app.session_interface.open_session(self.app, Request(environ))  # type: ignore[arg-type]  # werkzeug's will do
        return session is not None and "_user_id" in session

    def _not_found(self, environ, start_response):
        return self._page(environ, start_response, "404 Not Found", "track/not_found.html")

    def _page(self, environ, start_response, status: str, template: str, headers=()):
        page = self._pages.get(template)
        if page is None:  # rendered once per process; the page is the same for everybody
            with self.app.test_request_context(CLICK_PREFIX):
                page = self._pages[template] = render_template(template).encode()
        start_response(
            status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))), *_HEADERS, *headers]
        )
        return _EMPTY if environ.get("REQUEST_METHOD") == "HEAD" else [page]


@bp.record_once
def _mount_click_redirect(state) -> None:
    state.app.extensions["campaigns_click_redis"] = click_redis(settings_of(state.app).redis_url)
    state.app.wsgi_app = ClickRedirect(state.app, state.app.wsgi_app)


def _not_found():
    return render_template("track/not_found.html"), 404


@bp.route("/u/", defaults={"token": ""}, methods=["GET", "POST"])
@bp.route("/u/<path:token>", methods=["GET", "POST"])
@csrf.exempt
@limiter.exempt
def unsubscribe(token: str):
    """GET asks (scanners open links, and must not unsubscribe anybody); POST acts.

    The POST comes from the page's button or straight from the mail client (RFC 8058
    one-click, body "List-Unsubscribe=One-Click").
    """
    delivery_id = tracking.parse_unsubscribe_token(token)
    if delivery_id is None:
        return _not_found()
    if testlinks.is_test(delivery_id):  # a test mail's link: nobody to unsubscribe
        if request.form.get("List-Unsubscribe") == "One-Click":
            return Response("", status=200)
        return render_template("track/unsubscribe_test.html")
    if request.method != "POST":
        delivery = db.session.get(Delivery, delivery_id)
        if delivery is None:
            return _not_found()
        already = delivery.contact.unsubscribed_at is not None
        return render_template("track/unsubscribe.html", token=token, email=delivery.contact.email, already=already)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    contact = consent.unsubscribe_by_link(db.session, delivery_id, how=consent.ONE_CLICK if one_click else consent.LINK)
    if contact is None:
        return _not_found()
    db.session.commit()
    if one_click:
        return Response("", status=200)
    return render_template("track/unsubscribed.html", email=contact.email)
