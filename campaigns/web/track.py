"""Public endpoints of the mails: /c/<token> (tracked link) and /u/<token> (unsubscribe).

No log-in, no CSRF token (the signed token is the proof), no rate limit (a click must
always answer at once). A token that does not verify gets a plain 404 page, never a
redirect: /c/ sends people only to URLs stored for the offer.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request, session

from .. import clicks, tracking
from ..db import db
from ..extensions import csrf, limiter, redis_client

bp = Blueprint("track", __name__)


class ExactRedirect(Response):
    """A 302 whose Location is sent as given.

    Werkzeug re-quotes Location through iri_to_uri (IDNA 2003, and it quotes "[]{}|^" a
    browser would keep); tracking.browser_uri has already made the stored URL exactly what
    the browser would request, so it goes out untouched.
    """

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        headers["Location"] = self.headers["Location"]
        return headers


def _not_found():
    return render_template("track/not_found.html"), 404


def _client_ip() -> str | None:
    # Only used to recognise a gateway's network; behind a proxy the first hop is the client.
    return request.access_route[0] if request.access_route else request.remote_addr


@bp.route("/c/", defaults={"token": ""}, methods=["GET", "HEAD"])
@bp.route("/c/<path:token>", methods=["GET", "HEAD"])
@csrf.exempt
@limiter.exempt
def click(token: str):
    parsed = tracking.parse_click_token(token)
    if parsed is None:
        return _not_found()
    delivery_id, link_id = parsed
    target = clicks.resolve_target(db.session, delivery_id, link_id)
    if target is None:
        return _not_found()
    # Staff opening a stored mail from a contact's card follow the same links; those
    # clicks are not the client's. The signed session cookie says so without a query.
    if "_user_id" not in session:
        clicks.record_click(redis_client(), delivery_id, link_id, method=request.method, ip=_client_ip(),
                            user_agent=request.headers.get("User-Agent"))
    if target is clicks.TRAP:
        return _not_found()
    response = ExactRedirect(status=302, headers={"Location": tracking.browser_uri(target), "Cache-Control": "no-store"})
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays ours
    return response


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
    if request.method == "GET":
        from ..models import Delivery

        delivery = db.session.get(Delivery, delivery_id)
        if delivery is None:
            return _not_found()
        already = delivery.contact.unsubscribed_at is not None
        return render_template("track/unsubscribe.html", token=token, email=delivery.contact.email, already=already)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    how = "одним нажатием в почтовой программе" if one_click else "ссылка в письме"
    contact = tracking.unsubscribe(db.session, delivery_id, how=how)
    if contact is None:
        return _not_found()
    db.session.commit()
    if one_click:
        return Response("", status=200)
    return render_template("track/unsubscribed.html", email=contact.email)
