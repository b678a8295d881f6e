"""The agent WebSocket transport: parse frames, call the gateway, send its events.

The consumer is built per connection by ``AgentConsumer.as_asgi(gateway=...,
token_checks=...)`` and is its session's transport: the pipeline's events
become PROTOCOL.md's frames here and nowhere else. This module holds the
connection's life (accept, receive loop, outbound queue, close) and the op
table; the hello is ``websocket_hello``, the operations ``websocket_ops``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from bus.gateway.events import Answer, CallEvent
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Session
from bus.gateway.token_checks import TokenChecks
from bus.gateway.transports.frames import event_frame
from bus.gateway.transports.outbound import Outbound
from bus.gateway.transports.websocket_hello import HelloHandshake
from bus.gateway.transports.websocket_ops import Operations
from bus.protocol import (
    ErrorCode,
    FrameError,
    Op,
    decode_frame,
    encode_frame,
    error_body,
    error_frame,
    loads,
)
from controlplane.config import aget_config

logger = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
SHOWN_OP_CHARS = 100
# Frames of one stream that the server produces at the client's pace: they wait
# for room in the connection's queue instead of counting against its bound.
PACED_OPS = frozenset({Op.BUS_CHUNK})
# How long a close waits for the frames queued before it to reach the server;
# a client that does not read gets the close frame when it reads again.
CLOSE_WAIT_SECS = 2.0


class AgentConsumer(HelloHandshake, Operations, AsyncWebsocketConsumer):
    """One agent connection: hello first, then operations until it closes."""

    # No channel layer: channels would otherwise subscribe every connection to
    # the configured one, and a Redis layer's idle poll outlived its socket
    # timeout and closed sessions with 1011. Sessions are reached through the
    # gateway, never through groups.
    channel_layer_alias = None
    # The session's transport, as call records name it (sessions.Transport).
    name = "websocket"
    session: Session | None = None
    refused = False
    hello_timer: asyncio.Task[None] | None = None
    outbound: Outbound

    def __init__(
        self, *args: Any, gateway: Gateway, token_checks: TokenChecks, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = gateway
        # Shared by every connection of the application: see token_checks.py.
        self.token_checks = token_checks

    async def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        """Dispatch the connection's messages one by one, as they come.

        Channels' own loop (``await_many_dispatch``) waits on a list of
        sources: per frame it creates a task for the next receive and an
        ``asyncio.wait`` over it, about 8 us of CPU per frame
        (benchmarks/README.md, hot path). With no channel layer the client is
        the only source, so awaiting it directly is the same loop without
        them; the routing, the middleware and the handlers stay Channels'.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            # websocket.disconnect ends the consumer this way, as in Channels.
            return

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Route an ASGI message to its handler, without a database hop per frame.

        Channels closes stale database connections before every message, which
        is a trip through the one thread that runs sync code, per frame, for
        every connection: it capped throughput and queued all connections behind
        each other. Frames here reach the database only through
        database_sync_to_async (rotate_token) and run_in_db_thread (the hello's
        token check), which do that cleanup.
        """
        if message["type"] == "websocket.receive":
            # Nearly every message is a frame: it goes to receive as Channels'
            # websocket_receive hands it, without the handler lookup and the
            # extra coroutine per frame.
            text = message.get("text")
            if text is not None:
                await self.receive(text_data=text)
            else:
                await self.receive(bytes_data=message.get("bytes"))
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        """Accept and give the client the hello timeout to authenticate."""
        await self.accept()
        config = await aget_config()
        self.outbound = Outbound(
            self.base_send,
            limit=config.WS_MAX_BUFFERED_BYTES,
            on_overflow=self._overflowed,
        )
        self.hello_timer = asyncio.create_task(
            self._expire_hello(config.WS_HELLO_TIMEOUT_SECS)
        )

    async def disconnect(self, code: int) -> None:
        """Forget the session and its unsent frames; its calls finish on their own."""
        if self.hello_timer is not None:
            self.hello_timer.cancel()
        self.outbound.stop()
        if self.session is not None:
            await self.gateway.close_session(self.session)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close after the frames already queued (the session's Transport.close).

        Waits up to CLOSE_WAIT_SECS for them to reach the server; frames the
        client sends from now on are ignored.
        """
        self.refused = True
        self.outbound.close(code, reason)
        await self.outbound.flushed(CLOSE_WAIT_SECS)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        """Handle one frame: the hello, or an operation by the op table."""
        received_at = time.perf_counter()
        if text_data is None:
            try:
                text_data = (bytes_data or b"").decode("utf-8")
            except UnicodeDecodeError:
                text_data = ""
        if self.refused:
            return
        if self.session is None:
            await self._hello(text_data)
            return
        op = ""
        try:
            frame = decode_frame(text_data)
            op = frame["op"]
            handler = OP_HANDLERS.get(op)
            if handler is None:
                raise FrameError(
                    ErrorCode.UNKNOWN_OP, f"Unknown op: {op[:SHOWN_OP_CHARS]}"
                )
            await handler(self, frame, received_at)
        except FrameError as exc:
            await self.send_frame(error_frame(exc.code, exc.message))
        except Exception:
            # The frame boundary: log it, answer with the protocol's error, and
            # keep the connection working.
            logger.exception("Failed to handle a %s frame", op[:SHOWN_OP_CHARS])
            await self.send_frame(self._internal_error(op, text_data))

    async def send_frame(self, frame: dict[str, Any]) -> int:
        """Queue one server frame; return its size, 0 if dropped (see outbound.py)."""
        text = encode_frame(frame)
        if frame["op"] in PACED_OPS:
            await self.outbound.room(text)
        return self.outbound.offer(text)

    def _overflowed(self) -> None:
        # The queue is closing the connection with 1008: read and deliver no more.
        self.refused = True
        if self.session is not None:
            self.session.closed = True

    async def deliver(self, event: CallEvent) -> int:
        """Send a pipeline event as its frame (the session's Transport)."""
        return await self.send_frame(event_frame(event))

    @staticmethod
    def _internal_error(op: str, text: str) -> dict[str, Any]:
        message = "internal error"
        if op == Op.CALL_TOOL:
            request_id = loads(text).get("request_id")
            if isinstance(request_id, str):
                body = error_body(ErrorCode.EXEC_ERROR, message)
                return event_frame(Answer(request_id, body))
        return error_frame(ErrorCode.EXEC_ERROR, message)


Handler = Callable[[AgentConsumer, dict[str, Any], float], Awaitable[None]]

# The operations after hello: adding one is one line here plus its handler.
OP_HANDLERS: dict[str, Handler] = {
    Op.HELLO: AgentConsumer.op_hello,
    Op.LIST_TOOLS: AgentConsumer.op_list_tools,
    Op.CALL_TOOL: AgentConsumer.op_call_tool,
    Op.CANCEL: AgentConsumer.op_cancel,
    Op.HEALTH: AgentConsumer.op_health,
    Op.ROTATE_TOKEN: AgentConsumer.op_rotate_token,
    Op.BUS_FETCH: AgentConsumer.op_bus_fetch,
    Op.BUS_ACK: AgentConsumer.op_bus_ack,
}
