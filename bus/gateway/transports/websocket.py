"""The agent WebSocket transport: parse frames, call the gateway, send its events.

The consumer is built per connection by ``AgentConsumer.as_asgi(gateway=...,
token_checks=...)`` and is its session's transport: the pipeline's events
become PROTOCOL.md's frames here and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError
from redis.exceptions import RedisError

from bus.exceptions import BusError
from bus.gateway import metrics
from bus.gateway.attempt import state_unreachable
from bus.gateway.client_address import client_address
from bus.gateway.events import Answer, CallEvent
from bus.gateway.hellos import hello_failed, hello_limited
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import ANONYMOUS, Session
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.token_checks import TokenChecks
from bus.gateway.transports.frames import (
    agent_of,
    bus_error,
    client_label,
    event_frame,
    hello_ack,
)
from bus.gateway.transports.outbound import Outbound
from bus.protocol import (
    CloseCode,
    ErrorCode,
    FrameError,
    HelloError,
    Op,
    RotateError,
    decode_frame,
    encode_frame,
    error_body,
    error_frame,
    invalid,
    loads,
    parse_call,
    parse_cancel,
    parse_transaction_id,
)
from controlplane.config import Config, aget_config
from controlplane.exceptions import TokenMismatchError, WeakTokenError
from controlplane.logconfig import session_id_var
from controlplane.tokens import agent_token_rotate, token_hash

logger = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
SHOWN_OP_CHARS = 100
# bus_chunk frames carry at most this much of a payload, so that each frame
# fits the 1 MiB that most WebSocket clients and servers accept by default.
CHUNK_BYTES = 512 * 1024
# Frames of one stream that the server produces at the client's pace: they wait
# for room in the connection's queue instead of counting against its bound.
PACED_OPS = frozenset({Op.BUS_CHUNK})
# How long a close waits for the frames queued before it to reach the server;
# a client that does not read gets the close frame when it reads again.
CLOSE_WAIT_SECS = 2.0


class AgentConsumer(AsyncWebsocketConsumer):
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

    # Handshake

    async def _expire_hello(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.refused = True
        await self.close(code=CloseCode.HELLO_TIMEOUT)

    async def _refuse(self, error: str, code: int) -> None:
        self.refused = True
        metrics.record_hello_refusal(error)
        await self.send_frame({"op": Op.HELLO_ACK, "ok": False, "error": error})
        await self.close(code=code)

    async def _fail(self, address: str, error: str, code: int, config: Config) -> None:
        # A failure of the client's making: it counts towards the rate limit.
        try:
            await hello_failed(
                failures=self.gateway.hello_failures,
                address=address,
                reason=error,
                config=config,
            )
        except RedisError:
            # A failure that cannot be counted must not be free to repeat:
            # refused as unavailable, like every hello while Redis is down.
            logger.warning("Cannot count a failed hello: Redis unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        await self._refuse(error, code)

    async def _hello(self, text: str) -> None:
        if self.hello_timer is not None:
            self.hello_timer.cancel()
        config = await aget_config()
        address = client_address(self.scope, config.WS_TRUSTED_PROXIES)
        # Before anything is parsed or looked up: a limited address costs no query.
        try:
            limited = await hello_limited(
                failures=self.gateway.hello_failures, address=address, config=config
            )
        except RedisError:
            # The limit cannot be checked (REDIS_URL set, Redis down or slower
            # than REDIS_TIMEOUT_SECS): like a token that cannot be checked.
            logger.warning("Cannot check the failed-hello limit: Redis unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        if limited:
            await self._refuse(HelloError.RATE_LIMITED, CloseCode.TRY_AGAIN_LATER)
            return
        try:
            frame = loads(text)
        except FrameError:
            # Bad input as defined under "Bad input" (NaN, deep nesting, a lone
            # surrogate, the token included) refuses the hello like non-JSON.
            frame = None
        if not isinstance(frame, dict):
            await self._fail(
                address, HelloError.INVALID_HELLO, CloseCode.INVALID_HELLO, config
            )
            return
        if frame.get("op") != Op.HELLO:
            await self._fail(
                address, HelloError.MISSING_HELLO, CloseCode.MISSING_HELLO, config
            )
            return
        token = frame.get("token")
        has_token = isinstance(token, str) and bool(token)
        try:
            row = await self.token_checks.use(token) if has_token else None
        except DatabaseError:
            logger.warning("Cannot check an agent token: database unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        if row is None and (has_token or config.WS_AUTH_REQUIRED):
            await self._fail(
                address, HelloError.UNAUTHORIZED, CloseCode.UNAUTHORIZED, config
            )
            return
        self.session = self.gateway.open_session(
            agent=agent_of(row) if row is not None else ANONYMOUS,
            transport=self,
            token_hash=token_hash(token) if has_token else None,
            client=client_label(frame.get("client")),
        )
        session_id_var.set(self.session.session_id)
        logger.info(
            "Agent %s connected (client %s)",
            self.session.agent.name,
            self.session.client or "-",
        )
        await self.send_frame(hello_ack(self.session.session_id, config))

    # Operations (see OP_HANDLERS)

    async def op_hello(self, frame: dict[str, Any], received_at: float) -> None:
        """Refuse a second hello on an authenticated connection."""
        raise invalid("hello was already accepted on this connection")

    async def op_list_tools(self, frame: dict[str, Any], received_at: float) -> None:
        """List the enabled tools this agent may call."""
        tools = await self.gateway.list_tools(self.session)
        await self.send_frame({"op": Op.LIST_TOOLS_RES, "tools": tools})

    async def op_call_tool(self, frame: dict[str, Any], received_at: float) -> None:
        """Validate a call and hand it to the gateway's pipeline."""
        request = parse_call(frame)
        await self.gateway.call_tool(self.session, request, received_at)

    async def op_cancel(self, frame: dict[str, Any], received_at: float) -> None:
        """Cancel one of this agent's calls in flight."""
        request_id = parse_cancel(frame)
        reply = {"op": Op.CANCEL_RES, "request_id": request_id}
        try:
            ok = await self.gateway.cancel(self.session, request_id)
        except OUTAGE_ERRORS:
            # Whether the call runs cannot be known: not ok, and why, so that
            # the client can cancel again once the shared state is back.
            logger.warning("Cancel of %s failed", request_id, exc_info=True)
            unreachable = state_unreachable(await aget_config())
            await self.send_frame({**reply, "ok": False, **unreachable})
            return
        await self.send_frame({**reply, "ok": ok})

    async def op_health(self, frame: dict[str, Any], received_at: float) -> None:
        """Report this server's health snapshot."""
        health = await self.gateway.health()
        await self.send_frame({"op": Op.HEALTH_RES, "ok": True, "health": health})

    async def op_bus_fetch(self, frame: dict[str, Any], received_at: float) -> None:
        """Stream a stored result of this agent in chunks, then bus_fetch_res."""
        transaction_id = parse_transaction_id(frame)
        try:
            payload = await self.gateway.claims.fetch(
                agent_id=self.session.agent.id,
                transaction_id=transaction_id,
                config=await aget_config(),
            )
        except BusError as exc:
            await self.send_frame(bus_error(Op.BUS_FETCH_RES, transaction_id, exc))
            return
        chunks = 0
        for piece in payload.pieces(CHUNK_BYTES):
            await self.send_frame(
                {
                    "op": Op.BUS_CHUNK,
                    "transaction_id": transaction_id,
                    "seq": chunks,
                    "data": base64.b64encode(piece).decode("ascii"),
                }
            )
            chunks += 1
        await self.send_frame(
            {
                "op": Op.BUS_FETCH_RES,
                "transaction_id": transaction_id,
                "chunks": chunks,
                "size_bytes": payload.size_bytes,
                "checksum": f"sha256:{payload.checksum}",
            }
        )

    async def op_bus_ack(self, frame: dict[str, Any], received_at: float) -> None:
        """Release a stored result of this agent now (the TTL purge is the backstop)."""
        transaction_id = parse_transaction_id(frame)
        try:
            await self.gateway.claims.release(
                agent_id=self.session.agent.id,
                transaction_id=transaction_id,
                config=await aget_config(),
            )
        except BusError as exc:
            reply = {**bus_error(Op.BUS_ACK_RES, transaction_id, exc), "ok": False}
            await self.send_frame(reply)
            return
        await self.send_frame(
            {"op": Op.BUS_ACK_RES, "transaction_id": transaction_id, "ok": True}
        )

    async def op_rotate_token(self, frame: dict[str, Any], received_at: float) -> None:
        """Replace this agent's token; the old one stops working for new hellos."""
        error = await self._rotate(frame.get("old"), frame.get("new"))
        reply: dict[str, Any] = {"op": Op.ROTATE_TOKEN_RES, "ok": error is None}
        if error is not None:
            reply["error"] = error
        await self.send_frame(reply)

    async def _rotate(self, old: Any, new: Any) -> str | None:
        if not (isinstance(old, str) and old and isinstance(new, str) and new):
            return RotateError.MISSING_PARAMS
        session = self.session
        if (
            session.agent.id is None
            or session.token_hash is None
            or not hmac.compare_digest(session.token_hash, token_hash(old))
        ):
            return RotateError.UNAUTHORIZED
        try:
            await database_sync_to_async(agent_token_rotate)(
                agent_id=session.agent.id, old_token=old, new_token=new
            )
        except TokenMismatchError:
            return RotateError.UNAUTHORIZED
        except WeakTokenError:
            return RotateError.WEAK_TOKEN
        except DatabaseError:
            logger.warning("Cannot rotate an agent token: database unavailable")
            return RotateError.UNAVAILABLE
        session.token_hash = token_hash(new)
        logger.info("Agent %s rotated its token", session.agent.name)
        return None


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
