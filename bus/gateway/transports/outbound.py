"""The frames queued for one WebSocket connection, counted against a bound.

Why a queue of our own (PROTOCOL.md: a client that stops reading cannot make
the server hold unsent data without bound). The ASGI servers buffer
differently:

- uvicorn's ``send`` waits while the socket's write buffer is above its
  high-water mark (``writable`` in its websockets-sansio and wsproto
  protocols), so at most one frame sits in its transport beyond that mark;
- daphne's returns at once and Twisted buffers every byte without limit;
  ``serving.run_daphne`` makes its ``send`` wait the same way, through
  Twisted's producer API.

Waiting on the client in the consumer would stall its receive loop (and its
calls' deliveries) instead of closing the connection as the protocol says.
So the consumer never awaits the server: it queues each frame here with its
size, and one writer task hands them to the server in order, waiting as long
as the server makes it. The bytes queued, the frame being handed over
included, are what the client has not taken: once another frame would take
them past WS_MAX_BUFFERED_BYTES, the queue drops what the server has not
taken and closes the connection with 1008.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from bus.protocol import CloseCode

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]


def wire_size(text: str) -> int:
    """Return the bytes a text frame's payload takes on the wire (UTF-8)."""
    return len(text) if text.isascii() else len(text.encode())


class Outbound:
    """A connection's unsent messages, in order, and the task that sends them."""

    def __init__(
        self, send: Send, *, limit: int, on_overflow: Callable[[], None]
    ) -> None:
        self.limit = limit
        self.pending = 0
        self.closing = False
        self._send = send
        self._on_overflow = on_overflow
        self._queue: deque[tuple[Message, int]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self._waiters = 0

    def offer(self, text: str) -> int:
        """Queue a text frame and return its size, or 0 when it is not queued.

        Not queued after a close: nothing follows it on the wire, and a frame
        for a connection that is going away is no error (call results stay in
        the cache). Not queued either when it does not fit: then the frames
        queued are dropped, the connection closes with 1008 and `on_overflow`
        is told.
        """
        if self.closing:
            return 0
        size = wire_size(text)
        if not self._fits(size):
            logger.warning(
                "Closing a connection (1008): its client has not read %d bytes, "
                "and %d more would pass WS_MAX_BUFFERED_BYTES (%d)",
                self.pending,
                size,
                self.limit,
            )
            self.close(CloseCode.POLICY_VIOLATION, discard=True)
            self._on_overflow()
            return 0
        self._queue.append(({"type": "websocket.send", "text": text}, size))
        self.pending += size
        self._write_soon()
        return size

    async def room(self, text: str) -> None:
        """Wait until a text frame can follow without crowding the queue.

        For a stream (bus_chunk frames): it waits until the writer has taken
        every queued frame and the frame fits, so a stream keeps at most two
        frames queued and leaves the bound to answers, which cannot wait.
        """
        size = wire_size(text)
        while not (self.closing or (not self._queue and self._fits(size))):
            await self._wait_progress()

    def close(
        self, code: int | None, reason: str | None = None, *, discard: bool = False
    ) -> None:
        """Queue the close after the queued frames (or, discard, instead of them).

        The close follows the frame the server is taking, if any, so a client
        that reads again gets what came before and then the close frame.
        """
        if self.closing:
            return
        self.closing = True
        if discard:
            self.pending -= sum(size for _, size in self._queue)
            self._queue.clear()
        message: Message = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        if reason:
            message["reason"] = reason
        self._queue.append((message, 0))
        self._write_soon()
        self._signal()

    async def flushed(self, timeout: float) -> bool:
        """Wait until the server has taken every queued message; False on timeout."""
        writer = self._writer
        if writer is None:
            return True
        done, _ = await asyncio.wait({writer}, timeout=timeout)
        return bool(done)

    def stop(self) -> None:
        """Drop everything unsent and stop writing: the client has gone."""
        if self._writer is not None:
            # Its frame in hand leaves the count when the cancellation lands.
            self._writer.cancel()
            self._writer = None
        self._abandon()

    def _fits(self, size: int) -> bool:
        # A frame alone always fits: the bound is on what piles up unread, and
        # the largest frames (inline results) are bounded by WS_MAX_MESSAGE_BYTES.
        return not self.pending or self.pending + size <= self.limit

    def _write_soon(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            # One turn of the loop first: a call's ack is queued just before
            # its task starts, and a tool that answers at once (echo) queues
            # its result in that turn. Then one writer task hands both to the
            # server, in the same turn, instead of a task for each.
            await asyncio.sleep(0)
            while self._queue:
                message, size = self._queue.popleft()
                # Taken: a stream may queue its next frame behind this one.
                self._signal()
                try:
                    await self._send(message)
                finally:
                    self.pending -= size
                    self._signal()
        except OSError:
            # The client went away mid-send (uvicorn's ClientDisconnected);
            # its disconnect event follows and ends the session.
            self._abandon()
        except Exception:
            # The writer's boundary: what cannot be sent is dropped, loudly.
            logger.exception("Cannot send to a WebSocket client; dropping its frames")
            self._abandon()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    def _abandon(self) -> None:
        self.closing = True
        self.pending -= sum(size for _, size in self._queue)
        self._queue.clear()
        self._signal()

    def _signal(self) -> None:
        # Wake every waiter at once; each checks its own condition again. It
        # runs twice per frame and only a stream's next chunk ever waits: with
        # no waiter there is no event to replace.
        if self._waiters:
            self._progress.set()
            self._progress = asyncio.Event()

    async def _wait_progress(self) -> None:
        self._waiters += 1
        try:
            await self._progress.wait()
        finally:
            self._waiters -= 1
