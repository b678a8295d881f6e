"""uvicorn's transport under TurnWrites: one socket write per loop turn, in order.

Against a real socket pair: what the peer can read shows when the bytes left.
"""

from __future__ import annotations

import asyncio
import socket

from bus.gateway.uvicorn_writes import TURN_WRITE_BYTES, TurnWrites


class Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


async def _pair() -> tuple[TurnWrites, socket.socket, Peer]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    peer = Peer()
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
        lambda: peer, ours
    )
    return TurnWrites(transport), theirs, peer


def _readable(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 20)
    except BlockingIOError:
        return b""


async def _next_turns() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_turn_writes__a_turn_goes_out_at_its_end_in_order() -> None:
    writes, theirs, _ = await _pair()
    writes.write(b"ack;")
    writes.write(b"result;")
    assert _readable(theirs) == b""  # nothing before the turn ends
    await _next_turns()
    assert _readable(theirs) == b"ack;result;"
    writes.write(b"next")
    await _next_turns()
    assert _readable(theirs) == b"next"
    writes.close()
    theirs.close()


async def test_turn_writes__past_the_bound_writes_through_at_once() -> None:
    writes, theirs, _ = await _pair()
    writes.write(b"small;")
    writes.write(b"x" * TURN_WRITE_BYTES)
    # Written now, with what came before it first.
    received = _readable(theirs)
    assert received.startswith(b"small;x")
    await _next_turns()
    received += _readable(theirs)
    assert received == b"small;" + b"x" * TURN_WRITE_BYTES
    writes.close()
    theirs.close()


async def test_turn_writes__close_sends_what_was_collected_first() -> None:
    writes, theirs, peer = await _pair()
    writes.write(b"close frame")
    writes.close()
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert _readable(theirs) == b"close frame"
    assert _readable(theirs) == b""  # then end of stream
    theirs.close()


async def test_turn_writes__abort_drops_what_was_collected() -> None:
    writes, theirs, peer = await _pair()
    writes.write(b"never sent")
    writes.abort()
    await asyncio.wait_for(peer.closed.wait(), 5)
    await _next_turns()
    assert _readable(theirs) == b""
    theirs.close()
