"""Where the system may connect on a user's behalf: the guard against server-side request forgery.

A URL or a host typed into a page (admin's webhook endpoints, an advisor's IMAP server) makes
the server connect somewhere. Left alone, that lets a user reach what only the server can:
loopback services (Redis, the database), the cloud's metadata address, the office network. So
the host is resolved once and every address it has must be public — loopback, private, shared,
link-local, multicast, reserved and unspecified ones are refused — unless it lies in a network
the admin listed in the environment variable the caller names (CIDRs, comma-separated). The
caller then connects to the address that was checked (no second lookup to be rebound).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(ValueError):
    """The host may not be reached; the message says why, in Russian."""


def allowed_networks(env: str) -> list[Network]:
    """The networks the admin listed in ``env``; a part that is not a network is logged and ignored."""
    networks: list[Network] = []
    for part in os.environ.get(env, "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                log.warning("%s: «%s» is not a network, ignored", env, part.strip())
    return networks


def is_public(address: Address) -> bool:
    """A globally routable unicast address (not loopback, private, shared, link-local, reserved…)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
    )


@dataclass(frozen=True)
class Checked:
    """A host's addresses, every one allowed; ``vouched``: all of them in a network the admin listed."""

    host: str
    addresses: list[str]
    vouched: bool

    @property
    def address(self) -> str:
        """The address to connect to (the first checked one)."""
        return self.addresses[0]


def check_host(host: str, port: int, allowed_env: str) -> Checked:
    """Resolve ``host`` and check each of its addresses; Refused when a name does not resolve or an
    address is internal and not in the networks listed in ``allowed_env``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"Имя сервера «{host}» не находится ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Refused(f"Имя сервера «{host}» не находится")
    networks = allowed_networks(allowed_env)
    vouched = True
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        listed = any(address in network for network in networks)
        vouched = vouched and listed
        if not listed and not is_public(address):
            raise Refused(
                f"Адрес {address} — внутренний (локальный, частный или служебный): такие разрешает только {allowed_env}"
            )
    return Checked(host, addresses, vouched)
