"""uvicorn's WebSocket protocol with the writes of one loop turn sent together.

uvicorn writes every frame to the socket as it is sent (uvloop writes at once
when nothing is queued), so an accepted call's ack and a result that is ready
at once (``outbound`` hands both over in the same turn) cost two socket writes
and reach the client as two TCP segments. Collected here until the end of the
turn, they leave in one write: the frames stay two frames (PROTOCOL.md), only
the system calls and segments are halved, on the server and on the client.

What is collected is bounded by ``TURN_WRITE_BYTES``: past it, the writes go
to the socket at once, so uvicorn's flow control (``send`` waits while the
socket's buffer is above its high-water mark) sees what it saw before, at most
one collection later, and a client that does not read still meets the
connection's bound (``outbound``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)

# Well below the transports' high-water mark (64 KiB), so a large frame or a
# stream of chunks writes through as before.
TURN_WRITE_BYTES = 16 * 1024


class TurnWrites:
    """A transport whose writes within one loop turn go to the socket as one."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._chunks: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes) -> None:
        """Collect bytes for the end of this turn (or write now, past the bound)."""
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= TURN_WRITE_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def flush(self) -> None:
        """Write what was collected, in order, in one write."""
        if not self._chunks:
            return
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._transport.write(data)

    def close(self) -> None:
        """Write what was collected, then close: the close frame is not lost."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what was collected and abort the connection."""
        self._chunks.clear()
        self._size = 0
        self._transport.abort()

    def _end_of_turn(self) -> None:
        self._scheduled = False
        if self._transport.is_closing():
            # The connection went away during the turn; asyncio would drop
            # these bytes too (writes to a closing transport are discarded).
            self._chunks.clear()
            self._size = 0
            return
        self.flush()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading...) is the
        # transport's own.
        return getattr(self._transport, name)


class TurnWritesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default WebSocket protocol on a ``TurnWrites`` transport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Wrap the connection's transport before uvicorn keeps it."""
        super().connection_made(TurnWrites(transport))
