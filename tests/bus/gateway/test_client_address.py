"""The client address of a connection: the peer, or what trusted proxies forwarded."""

from __future__ import annotations

from typing import Any

import pytest

from bus.gateway.client_address import UNKNOWN, client_address


def _scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "websocket",
        "client": [peer, 40000] if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]
        + [(b"host", b"cp.example.com")],
    }


def test_client_address__is_the_peer_when_no_proxy_is_trusted() -> None:
    scope = _scope("192.0.2.10", "198.51.100.1")
    assert client_address(scope, ()) == "192.0.2.10"


def test_client_address__from_an_untrusted_peer_ignores_forwarded_for() -> None:
    scope = _scope("192.0.2.10", "198.51.100.1")
    assert client_address(scope, ("10.0.0.0/8",)) == "192.0.2.10"


def test_client_address__behind_a_trusted_proxy_is_the_hop_it_appended() -> None:
    # The client wrote "10.9.9.9, 1.2.3.4" itself; the proxy appended the truth.
    scope = _scope("127.0.0.1", "10.9.9.9, 1.2.3.4, 203.0.113.7")
    assert client_address(scope, ("127.0.0.1",)) == "203.0.113.7"


def test_client_address__skips_every_trusted_hop_from_the_right() -> None:
    scope = _scope("10.0.0.2", "203.0.113.7, 10.0.0.5", "10.0.0.9")
    assert client_address(scope, ("10.0.0.0/24",)) == "203.0.113.7"


def test_client_address__every_hop_trusted_is_the_leftmost() -> None:
    scope = _scope("10.0.0.2", "10.0.0.7, 10.0.0.5")
    assert client_address(scope, ("10.0.0.0/24",)) == "10.0.0.7"


def test_client_address__stops_at_a_hop_that_is_no_address() -> None:
    scope = _scope("10.0.0.2", "203.0.113.7, unknown, 10.0.0.5")
    assert client_address(scope, ("10.0.0.0/24",)) == "10.0.0.5"


def test_client_address__without_forwarded_for_is_the_proxy() -> None:
    assert client_address(_scope("10.0.0.2"), ("10.0.0.0/24",)) == "10.0.0.2"


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("203.0.113.7:5555", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:DB8:0::7", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_client_address__is_normalized(hop: str, address: str) -> None:
    assert client_address(_scope("127.0.0.1", hop), ("127.0.0.1",)) == address


def test_client_address__of_a_dual_stack_peer_is_its_ipv4() -> None:
    assert client_address(_scope("::ffff:192.0.2.10"), ()) == "192.0.2.10"


def test_client_address__without_a_peer_address_is_unknown() -> None:
    assert client_address(_scope(None, "203.0.113.7"), ("127.0.0.1",)) == UNKNOWN
    assert client_address(_scope("/run/cp.sock"), ()) == UNKNOWN
