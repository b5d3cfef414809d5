"""Link and unsubscribe tokens (signed, no personal data).

A click token names a delivery and a link; an unsubscribe token names a delivery.
Both are HMAC-signed with SECRET_KEY (itsdangerous), so a forged or altered token
is refused before the database is asked anything.

Tokens are short on purpose (``1k-3.x9T0cQ2mZ0b6pW4u``): ids in base 36 and an HMAC-SHA256
cut to 96 bits. 96 bits cannot be guessed online, and a short link survives mail clients
that wrap long lines.
"""

from __future__ import annotations

import functools
import hashlib

import idna
from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm

from .config import current_settings

# click_url(public_url, delivery_id, TRAP_LINK_ID) is the hidden link in every mail that no
# person can see: whatever follows it is a scanner (clicks.py).
TRAP_LINK_ID = 0
# The links of a preview and of a test send name this delivery (none has id 0): they lead where the
# offer's link leads, but nobody is counted as having clicked (web/track.py, testlinks.py).
TEST_DELIVERY_ID = 0

_SIGNATURE_BYTES = 12


class _ShortHMAC(HMACAlgorithm):
    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return super().get_signature(key, value)[:_SIGNATURE_BYTES]


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _signer(salt: str, secret_key: str | None = None) -> Signer:
    return _signer_for(salt, secret_key or current_settings().secret_key)


@functools.lru_cache(maxsize=16)
def _signer_for(salt: str, secret_key: str) -> Signer:
    # Built once per key: every click verifies a token, and a Signer is safe to share between threads.
    return Signer(secret_key, salt=salt, sep=".", algorithm=_ShortHMAC(hashlib.sha256))


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


# What a browser percent-encodes in each part of a typed URL (the WHATWG URL Standard's
# percent-encode sets; "#" and "?" never reach a part once the URL is split). Anything
# else — "%", "&", "+", "=", brackets — stays exactly as marketing stored it.
_C0 = frozenset(chr(c) for c in range(0x20)) | {"\x7f"}
_PATH_ENCODE = _C0 | set(' "<>`{}')
_QUERY_ENCODE = _C0 | set(" \"<>'")
_FRAGMENT_ENCODE = _C0 | set(' "<>`')


def _percent_encode(part: str, encode: frozenset[str] | set[str]) -> str:
    out = []
    for char in part:
        if char in encode or ord(char) > 0x7E:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def browser_uri(url: str) -> str:
    """The ASCII URL a browser would request for the stored `url`.

    A Location header must be ASCII, so a Cyrillic path or query is sent UTF-8
    percent-encoded and an IDN host as Punycode (UTS 46, as browsers do) — exactly what the
    browser would have made of the same URL typed in its address bar; it shows it in
    Cyrillic again. An ASCII URL comes back unchanged, byte for byte. Memoised: a pure
    function of the stored URL, asked on every click.
    """

    url = url.strip()
    if url.isascii() and not any(c in _C0 or c in ' "<>`' for c in url):
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _percent_encode(url, _PATH_ENCODE)
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    host, colon, port = hostport, "", ""
    if not hostport.startswith("[") and hostport.count(":") == 1:
        host, colon, port = hostport.partition(":")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            host = _percent_encode(host, _PATH_ENCODE)
    return (
        f"{scheme}://{_percent_encode(userinfo, _PATH_ENCODE)}{at}{host}{colon}{port}"
        f"{slash}{_percent_encode(path, _PATH_ENCODE)}"
        f"{qmark}{_percent_encode(query, _QUERY_ENCODE)}{hash_}{_percent_encode(fragment, _FRAGMENT_ENCODE)}"
    )
