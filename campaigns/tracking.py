"""Link and unsubscribe tokens (signed, no personal data), click verdicts.

A click token names a delivery and a link; an unsubscribe token names a delivery.
Both are HMAC-signed with SECRET_KEY (itsdangerous), so a forged or altered token
is refused before the database is asked anything.
"""
from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, Signer


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _signer(salt: str, secret_key: str | None = None) -> Signer:
    key = secret_key or current_app.config["SECRET_KEY"]
    return Signer(key, salt=salt, sep=".", digest_method=hashlib.sha256)


def click_token(delivery_id: int, link_id: int, secret_key: str | None = None) -> str:
    return _signer("click", secret_key).sign(f"{_b36(delivery_id)}-{_b36(link_id)}").decode()


def parse_click_token(token: str, secret_key: str | None = None) -> tuple[int, int] | None:
    """(delivery_id, link_id), or None for anything forged, truncated or malformed."""
    try:
        value = _signer("click", secret_key).unsign(token).decode()
        delivery, link = value.split("-")
        return int(delivery, 36), int(link, 36)
    except (BadSignature, ValueError, UnicodeError):
        return None


def unsubscribe_token(delivery_id: int, secret_key: str | None = None) -> str:
    return _signer("unsubscribe", secret_key).sign(_b36(delivery_id)).decode()


def parse_unsubscribe_token(token: str, secret_key: str | None = None) -> int | None:
    try:
        return int(_signer("unsubscribe", secret_key).unsign(token).decode(), 36)
    except (BadSignature, ValueError, UnicodeError):
        return None


def click_url(public_url: str, delivery_id: int, link_id: int, secret_key: str | None = None) -> str:
    return f"{public_url}/c/{click_token(delivery_id, link_id, secret_key)}"


def unsubscribe_url(public_url: str, delivery_id: int, secret_key: str | None = None) -> str:
    return f"{public_url}/u/{unsubscribe_token(delivery_id, secret_key)}"


def unsubscribe_mailto(mail_domain: str, delivery_id: int, secret_key: str | None = None) -> str:
    return f"mailto:unsubscribe@{mail_domain}?subject=unsubscribe%20{unsubscribe_token(delivery_id, secret_key)}"
