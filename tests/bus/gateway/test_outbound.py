"""A connection's outbound queue against a server whose client reads only when told."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bus.gateway.transports.outbound import Outbound, wire_size


class Server:
    """An ASGI server's send: it takes one message, then waits for the client."""

    def __init__(self, *, reading: bool = False) -> None:
        self.taken: list[dict[str, Any]] = []
        self.reading = asyncio.Event()
        if reading:
            self.reading.set()
        self.failure: BaseException | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.taken.append(message)
        await self.reading.wait()

    def texts(self) -> list[str]:
        return [m["text"] for m in self.taken if m["type"] == "websocket.send"]


class Overflows:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _outbound(server: Server, limit: int = 100) -> tuple[Outbound, Overflows]:
    overflows = Overflows()
    return Outbound(server.send, limit=limit, on_overflow=overflows), overflows


def test_wire_size__counts_utf8_bytes() -> None:
    assert wire_size('{"t":"abc"}') == 11
    assert wire_size('{"t":"é€😀"}') == 8 + 2 + 3 + 4


async def test_outbound__sends_in_order_and_counts_down() -> None:
    server = Server(reading=True)
    outbound, overflows = _outbound(server)
    for text in ("a" * 10, "b" * 20, "c" * 30):
        assert outbound.offer(text) == len(text)
    assert outbound.pending == 60
    assert await outbound.flushed(1)
    assert server.texts() == ["a" * 10, "b" * 20, "c" * 30]
    assert outbound.pending == 0 and overflows.count == 0


async def test_outbound__a_client_that_does_not_read_is_closed_1008(caplog) -> None:
    server = Server()
    outbound, overflows = _outbound(server, limit=100)
    for text in ("1" * 40, "2" * 40, "3" * 20):
        assert outbound.offer(text) > 0
    await _settle()
    assert server.texts() == ["1" * 40]  # the rest waits for the client
    with caplog.at_level(logging.WARNING):
        assert outbound.offer("4") == 0
    assert overflows.count == 1
    assert "WS_MAX_BUFFERED_BYTES (100)" in caplog.text
    # Frames the server had not taken are dropped; nothing more is queued.
    assert outbound.pending == 40
    assert outbound.offer("5") == 0
    server.reading.set()
    assert await outbound.flushed(1)
    assert server.taken[1:] == [{"type": "websocket.close", "code": 1008}]
    assert outbound.pending == 0


async def test_outbound__a_frame_alone_may_exceed_the_bound() -> None:
    server = Server()
    outbound, overflows = _outbound(server, limit=100)
    assert outbound.offer("x" * 500) == 500
    assert outbound.offer("y") == 0 and overflows.count == 1


async def test_outbound__a_stream_waits_for_room_instead_of_overflowing() -> None:
    server = Server()
    outbound, overflows = _outbound(server, limit=100)

    async def stream() -> None:
        for number in range(4):
            text = str(number) * 45
            await outbound.room(text)
            assert outbound.offer(text) == 45

    streaming = asyncio.create_task(stream())
    await _settle()
    # One frame with the server, one queued; the third waits.
    assert len(server.texts()) == 1 and outbound.pending == 90
    assert not streaming.done()
    server.reading.set()
    await asyncio.wait_for(streaming, 1)
    assert await outbound.flushed(1)
    assert server.texts() == [str(n) * 45 for n in range(4)]
    assert overflows.count == 0


async def test_outbound__close_follows_the_queued_frames() -> None:
    server = Server()
    outbound, _ = _outbound(server)
    outbound.offer("last result")
    outbound.close(1001)
    assert not await outbound.flushed(0.05)  # the client has not read yet
    server.reading.set()
    assert await outbound.flushed(1)
    assert server.taken == [
        {"type": "websocket.send", "text": "last result"},
        {"type": "websocket.close", "code": 1001},
    ]
    assert outbound.offer("late") == 0


async def test_outbound__stop_drops_everything_and_wakes_a_stream() -> None:
    server = Server()
    outbound, _ = _outbound(server, limit=100)
    outbound.offer("a" * 60)
    outbound.offer("b" * 30)
    waiting = asyncio.create_task(outbound.room("c" * 60))
    await _settle()
    outbound.stop()
    await asyncio.wait_for(waiting, 1)
    await _settle()
    assert outbound.pending == 0 and outbound.offer("d") == 0
    assert server.texts() == ["a" * 60]


@pytest.mark.parametrize("failure", [ConnectionResetError(), RuntimeError("boom")])
async def test_outbound__a_failing_send_drops_the_rest(failure, caplog) -> None:
    server = Server(reading=True)
    server.failure = failure
    outbound, _ = _outbound(server)
    with caplog.at_level(logging.ERROR):
        outbound.offer("a")
        outbound.offer("b")
        assert await outbound.flushed(1)
    assert outbound.pending == 0 and outbound.offer("c") == 0
    # A client that went away is no error; anything else is logged with its trace.
    logged = "Cannot send to a WebSocket client" in caplog.text
    assert logged is isinstance(failure, RuntimeError)
