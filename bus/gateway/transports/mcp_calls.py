"""MCP requests on the call pipeline: the SDK server's handlers and their sessions.

Each MCP session is one pipeline session per worker that serves it, opened
while at least one of its requests runs there and closed when the last one
ends; its `session_id` is the MCP session's, so the session limit counts its
calls on every worker together. A call's events reach the request that waits
for them through the session's `McpTransport`, keyed by request id, and that
request's handler turns them into progress notifications and its one result.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from bus.gateway.events import Accepted, Answer, CallEvent, Progress
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Agent, Session
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.transports.mcp_content import tools_result
from bus.gateway.transports.mcp_results import (
    error_result,
    read_bus_resource,
    tool_result,
)
from bus.protocol import (
    SERVER_VERSION,
    UNAUTHORIZED,
    CallRequest,
    CloseCode,
    ErrorCode,
    dumps,
)
from controlplane.config import aget_config

logger = logging.getLogger(__name__)

SERVER_NAME = "agent-tool-control-plane"
# Where the endpoint leaves the authenticated caller in the request's scope.
CALLER_SCOPE_KEY = "controlplane.mcp_caller"
CLOSED_MESSAGES = {
    CloseCode.UNAUTHORIZED: (UNAUTHORIZED, "the agent token was revoked or expired"),
    CloseCode.GOING_AWAY: (ErrorCode.CANCELLED, "the server is shutting down"),
}
CLOSED_OTHERWISE = (ErrorCode.EXEC_ERROR, "the session was closed")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent an MCP request, set by the endpoint after authentication."""

    agent: Agent
    token_hash: str | None
    session_id: str
    client: str = ""


@dataclass(frozen=True, slots=True)
class Closed:
    """The session was closed (revoked token, shutdown) while a request waited."""

    code: int


@dataclass(eq=False)
class Waiter:
    """One request waiting for its call's events."""

    request_id: str
    events: asyncio.Queue[CallEvent | Closed] = field(default_factory=asyncio.Queue)


class McpTransport:
    """A pipeline session's transport for MCP: events go to the waiting requests.

    `deliver` only queues, so a slow client never holds up the call's task;
    the handler of the request forwards the events at the client's pace.
    """

    name = "mcp"

    def __init__(self) -> None:
        self.waiting: dict[str, list[Waiter]] = {}

    def expect(self, request_id: str) -> Waiter:
        """Register a request that waits for the events of `request_id`."""
        waiter = Waiter(request_id)
        self.waiting.setdefault(request_id, []).append(waiter)
        return waiter

    def forget(self, waiter: Waiter) -> None:
        """Stop routing events to a request that has ended."""
        waiters = self.waiting.get(waiter.request_id, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self.waiting.pop(waiter.request_id, None)

    async def deliver(self, event: CallEvent) -> int:
        """Queue an event for the requests that wait for it; return its size."""
        waiters = self.waiting.get(event.request_id, [])
        for waiter in waiters:
            waiter.events.put_nowait(event)
        if not waiters or not isinstance(event, Answer):
            return 0
        return len(dumps(event.body).encode("utf-8"))

    async def close(self, code: int) -> None:
        """End every waiting request (a revoked token, shutdown)."""
        for waiters in self.waiting.values():
            for waiter in waiters:
                waiter.events.put_nowait(Closed(code))


@dataclass(eq=False)
class Joined:
    session: Session
    requests: int = 0


class McpSessions:
    """The pipeline sessions of the MCP sessions that have requests on this worker."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.open: dict[str, Joined] = {}

    @asynccontextmanager
    async def joined(self, caller: Caller) -> AsyncIterator[Session]:
        """Yield the caller's session, open while at least one request uses it."""
        joined = self.open.get(caller.session_id)
        if joined is None or joined.session.closed:
            session = self.gateway.open_session(
                agent=caller.agent,
                transport=McpTransport(),
                token_hash=caller.token_hash,
                client=caller.client,
                session_id=caller.session_id,
            )
            joined = self.open[caller.session_id] = Joined(session)
        joined.requests += 1
        try:
            yield joined.session
        finally:
            joined.requests -= 1
            if not joined.requests:
                if self.open.get(caller.session_id) is joined:
                    del self.open[caller.session_id]
                # Shielded: a cancelled request must still release its session.
                with anyio.CancelScope(shield=True):
                    await self.gateway.close_session(joined.session)


def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    """Return the authenticated caller of an SDK request (set by the endpoint)."""
    return ctx.request.scope[CALLER_SCOPE_KEY]


def pipeline_request_id(session_id: str, jsonrpc_id: types.RequestId | None) -> str:
    """Return the pipeline's request id of a JSON-RPC request of an MCP session.

    JSON-RPC ids repeat across sessions (every client counts from 0 or 1), so
    the session is part of it; `1` and `"1"` stay apart.
    """
    return f"mcp:{session_id.partition('.')[0]}:{json.dumps(jsonrpc_id)}"


def progress_token(ctx: ServerRequestContext[Any, Any]) -> str | int | None:
    """Return the progressToken the client sent with a request, if any."""
    meta = ctx.meta or {}
    token = meta.get("progress_token", meta.get("progressToken"))
    return token if isinstance(token, str | int) else None


class McpCalls:
    """The SDK server whose handlers hand MCP requests to the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.sessions = McpSessions(gateway)
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=SERVER_VERSION,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_read_resource=self.read_resource,
        )
        self.server.add_notification_handler(
            "notifications/cancelled", types.CancelledNotificationParams, self.cancelled
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: Any
    ) -> types.ListToolsResult:
        """List the tools this agent may call, with their input schemas."""
        async with self.sessions.joined(caller_of(ctx)) as session:
            listings = await self.gateway.list_tools(session)
        return tools_result(listings)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """Run a call through the pipeline; its protocol errors are tool errors."""
        received_at = time.perf_counter()
        caller = caller_of(ctx)
        request_id = pipeline_request_id(caller.session_id, ctx.request_id)
        async with self.sessions.joined(caller) as session:
            transport: McpTransport = session.transport
            waiter = transport.expect(request_id)
            try:
                await self.gateway.call_tool(
                    session,
                    CallRequest(
                        name=params.name,
                        request_id=request_id,
                        arguments=params.arguments or {},
                    ),
                    received_at,
                )
                outcome = await self._follow(ctx, waiter)
            except anyio.get_cancelled_exc_class():
                # The request ended without its answer (a 2026-07-28 client
                # closed the stream, the server stops): the call must not run
                # on for nobody.
                with anyio.CancelScope(shield=True):
                    await self.gateway.cancel(session, request_id)
                raise
            except Exception:
                # The request's boundary, as a WebSocket frame's: logged, and
                # answered with the protocol's error for a call.
                logger.exception("MCP call %s of %s failed", request_id, params.name)
                return error_result(ErrorCode.EXEC_ERROR, "internal error")
            finally:
                transport.forget(waiter)
        if isinstance(outcome, Closed):
            return error_result(*CLOSED_MESSAGES.get(outcome.code, CLOSED_OTHERWISE))
        return await tool_result(
            outcome,
            agent=caller.agent,
            claims=self.gateway.claims,
            config=await aget_config(),
        )

    async def cancelled(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.CancelledNotificationParams,
    ) -> None:
        """Cancel the call of a request of this MCP session, on whichever worker."""
        if params.request_id is None:
            return
        caller = caller_of(ctx)
        request_id = pipeline_request_id(caller.session_id, params.request_id)
        # Shielded: in stateless mode the SDK ends this request's server as soon
        # as it has answered 202, and a cancel that goes to another worker
        # through Redis would be cut short on the way.
        with anyio.CancelScope(shield=True):
            async with self.sessions.joined(caller) as session:
                try:
                    cancelled = await self.gateway.cancel(session, request_id)
                except OUTAGE_ERRORS:
                    # A notification has no answer to carry the error: the
                    # call runs on, and the client still gets its one result.
                    logger.warning(
                        "MCP cancel of %s not delivered: shared state (Redis) "
                        "cannot be reached",
                        request_id,
                        exc_info=True,
                    )
                    return
        logger.info(
            "MCP session %s cancelled %s (%s)",
            caller.session_id.partition(".")[0],
            request_id,
            "in flight" if cancelled else "not in flight",
        )

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: Any
    ) -> types.ListResourcesResult:
        """List none: a bus result is reached through the link its call returned."""
        return types.ListResourcesResult(resources=[])

    async def read_resource(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.ReadResourceRequestParams,
    ) -> types.ReadResourceResult:
        """Serve a bus result (`bus://<transaction_id>`) to the agent that owns it."""
        return await read_bus_resource(
            str(params.uri),
            agent=caller_of(ctx).agent,
            claims=self.gateway.claims,
            config=await aget_config(),
        )

    async def _follow(
        self, ctx: ServerRequestContext[Any, Any], waiter: Waiter
    ) -> Answer | Closed:
        """Forward the call's heartbeats as progress until its answer comes."""
        token = progress_token(ctx)
        accepted_at = time.monotonic()
        while True:
            event = await waiter.events.get()
            if isinstance(event, Answer | Closed):
                return event
            if isinstance(event, Accepted):
                accepted_at = time.monotonic()
            elif isinstance(event, Progress) and token is not None:
                await ctx.session.send_progress_notification(
                    token,
                    progress=round(time.monotonic() - accepted_at, 3),
                    message=event.note,
                    related_request_id=ctx.request_id,
                )
