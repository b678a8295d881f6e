"""Which client address a connection is accounted to (PROTOCOL.md "Handshake").

The peer's address, unless the peer is one of WS_TRUSTED_PROXIES: then the
client is read from X-Forwarded-For, so that agents behind one load balancer
are not rate limited together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The key of connections whose peer has no IP address (a Unix socket).
UNKNOWN = "unknown"


def client_address(scope: Mapping[str, Any], trusted: tuple[str, ...]) -> str:
    """Return the client address of an ASGI connection, normalized, as text.

    Each proxy appends the address it received the request from, so the hops
    of X-Forwarded-For are read from the right, past trusted proxies; the
    first other hop is the client. What a client writes at the left is never
    reached unless every hop after it is trusted.
    """
    peer = scope.get("client")
    address = _parse(peer[0]) if peer else None
    if address is None:
        return UNKNOWN
    networks = _networks(trusted)
    if not _is_trusted(address, networks):
        return str(address)
    hops = [
        hop
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        forwarded = _parse(hop)
        if forwarded is None:
            # Not an address (garbage, or "unknown" from a proxy): the hop
            # that wrote it, the last trusted one, is all that is known.
            break
        address = forwarded
        if not _is_trusted(address, networks):
            break
    return str(address)


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    # The environment layer refused invalid entries at start (environment.py).
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):
        # "[2001:db8::1]:443": an IPv6 address with a port.
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        # "192.0.2.1:443": an IPv4 address with a port.
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
        return address.ipv4_mapped
    return address
