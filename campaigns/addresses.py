"""E-mail addresses for headers and the envelope: IDN domains as A-labels, display names on one line."""

from __future__ import annotations

from email.headerregistry import Address

import idna


def ascii_domain(domain: str) -> str:
    """The A-label form of ``domain`` (пример.рф → xn--e1afmkfd.xn--p1ai)."""
    domain = domain.strip().rstrip(".")
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"Недопустимое имя домена «{domain}» ({exc})") from None


def _clean_display(name: str | None) -> str:
    # Header injection and stray layout: one line, single spaces.
    return " ".join((name or "").split())


def make_address(name: str | None, addr: str) -> Address:
    local, at, domain = (addr or "").strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"«{addr}» — не адрес электронной почты")
    return Address(_clean_display(name), local, ascii_domain(domain))
