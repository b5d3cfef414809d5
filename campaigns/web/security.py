"""What every response carries and where a user-supplied address may send the browser.

- `local_target()`: the one check for a `next` parameter or a Referer before redirecting to it.
- `SECURITY_HEADERS`: set on every Flask response here, and by `track.ClickRedirect` on /c/
  (which does not go through Flask). A view that sets its own Content-Security-Policy keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, request

bp = Blueprint("security", __name__)

# No inline script anywhere (the pages load /static/app.js); inline style stays allowed because the
# mail previews show the mail's own HTML (styled inline) in sandboxed srcdoc frames, which inherit it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


@bp.after_app_request
def _security_headers(response):
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


def local_target(target: str | None, default: str) -> str:
    """`target` when it is a path on this site (a `next` parameter, or a Referer from this host), else `default`.

    Browsers drop tabs and line breaks from URLs and read a backslash as a slash, so "/\\t/evil.example"
    or "/\\\\evil.example" would leave the site: anything but a plain "/path?query" falls back.
    """
    if not target or any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch == "\\" for ch in target):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" in the host part
        return default
    if parts.scheme or parts.netloc:
        # A full URL is accepted only from this very host (a Referer); keep its path and query.
        if parts.scheme not in ("http", "https") or parts.netloc != request.host:
            return default
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return default
    return target
