"""What every response carries and where a user-supplied address may send the browser.

- `local_target()`: the one check for a `next` parameter or a Referer before redirecting to it.
- `SECURITY_HEADERS`: set on every Flask response here, and by `track.ClickRedirect` on /c/
  (which does not go through Flask). A view that sets its own Content-Security-Policy keeps it.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, request

bp = Blueprint("security", __name__)

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
