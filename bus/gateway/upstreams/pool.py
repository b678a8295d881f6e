"""One session per upstream MCP server in each process, kept open and reused.

Each upstream gets a `Connection`: one task that connects, stores the tools
it lists, then pings it every MCP_UPSTREAM_PING_SECS; when a ping or a call
finds it gone, the task records it down and reconnects with backoff (at most
MCP_UPSTREAM_RETRY_MAX_SECS between tries), so a returning upstream is used
again within ping + retry + handshake time. Calls share the open session (the
SDK multiplexes requests); cancelling a call's task makes the SDK send
`notifications/cancelled` upstream.

The `Pool` follows the enabled upstream rows (a RefreshingSnapshot, so an
outage keeps the last known set) and starts, restarts or stops connections to
match. It belongs to the event loop that first used it: a different loop (a
test client's, a sync view's) gets fresh connections instead of another loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import anyio
import httpx2
import mcp_types as types
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from mcp import ClientSession
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError

from bus.gateway.tools.base import ToolError, ToolTimeout
from bus.gateway.upstreams import services
from bus.gateway.upstreams.client import describe, list_tool_defs, upstream_session
from bus.gateway.upstreams.spec import UpstreamSpec
from bus.models import McpUpstream
from controlplane.config import aget_config
from controlplane.snapshot import RefreshingSnapshot

logger = logging.getLogger(__name__)

CONNECTING, UP, DOWN = "connecting", "up", "down"
FIRST_RETRY_SECS = 0.5
# What a lost connection raises in a caller's request: the session is gone.
LOST = (
    OSError,
    httpx2.HTTPError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)


class UpstreamLostError(Exception):
    """A ping or a call found the upstream's session gone."""


class SessionGoneError(Exception):
    """The HTTP upstream does not know our session: the request did not run."""


class Connection:
    """The session of this process to one upstream, and what it last saw."""

    def __init__(self, spec: UpstreamSpec) -> None:
        self.spec = spec
        self.state = CONNECTING
        self.error = ""
        self.since = time.time()
        self.session: ClientSession | None = None
        self.attempted = asyncio.Event()
        self.broken = asyncio.Event()
        self.tools_changed = asyncio.Event()
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.lost_reason = ""
        self.task: asyncio.Task[None] = asyncio.create_task(
            self._run(), name=f"mcp-upstream:{spec.name}"
        )

    async def stop(self) -> None:
        """End the session (a stdio upstream's process with it)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        timeout: float,
        *,
        progress: ProgressFnT | None = None,
    ) -> types.CallToolResult:
        """Call a tool of the upstream; raise ToolError while it is down."""
        if not self.attempted.is_set():
            # Just added or just started: the first connection is under way.
            await self._wait(self.attempted, timeout, "connect")
        try:
            return await self._call_on(self._current(), name, arguments, progress)
        except SessionGoneError:
            # The upstream restarted and forgot our session: it never ran the
            # call, so it runs once on the session the watch opens now.
            await self._wait(self.ready, timeout, "reconnect")
            try:
                return await self._call_on(self._current(), name, arguments, progress)
            except SessionGoneError as exc:
                raise ToolError(f"upstream {self.spec.name}: {exc}") from exc

    def _current(self) -> ClientSession:
        session = self.session
        if session is None or self.broken.is_set():
            raise ToolError(f"upstream {self.spec.name} is down: {self.error}")
        return session

    async def _wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            raise ToolTimeout(
                f"upstream {self.spec.name} did not {what} within {timeout:g}s"
            ) from None

    async def _call_on(
        self,
        session: ClientSession,
        name: str,
        arguments: dict[str, Any],
        progress: ProgressFnT | None,
    ) -> types.CallToolResult:
        try:
            return await session.call_tool(name, arguments, progress_callback=progress)
        except MCPError as exc:
            if self._session_gone(exc):
                self._lost(exc.message)
                raise SessionGoneError(exc.message) from exc
            if exc.code == types.CONNECTION_CLOSED:
                self._lost(exc.message)
            raise ToolError(f"upstream {self.spec.name}: {exc.message}") from exc
        except LOST as exc:
            self._lost(describe(exc))
            raise ToolError(f"upstream {self.spec.name}: {describe(exc)}") from exc

    def _session_gone(self, error: MCPError) -> bool:
        # Streamable HTTP answers 404 to a session it does not know, which the
        # SDK reports as INVALID_REQUEST "Session not found" / "terminated".
        return (
            self.spec.transport == McpUpstream.Transport.HTTP
            and error.code == types.INVALID_REQUEST
            and "session" in error.message.lower()
        )

    def _lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.ready.clear()
        self.broken.set()
        self.wake.set()

    async def _tools_changed(self) -> None:
        # Called from the SDK's receive loop: only flag it, the watch lists.
        self.tools_changed.set()
        self.wake.set()

    async def _run(self) -> None:
        delay = FIRST_RETRY_SECS
        while True:
            config = await aget_config()
            try:
                async with upstream_session(
                    self.spec,
                    connect_timeout=config.MCP_UPSTREAM_CONNECT_TIMEOUT_SECS,
                    on_tools_changed=self._tools_changed,
                ) as session:
                    await self._store_tools(session)
                    await self._up(session)
                    delay = FIRST_RETRY_SECS
                    await self._watch(session)
            except asyncio.CancelledError:
                self.session = None
                raise
            except Exception as exc:  # noqa: BLE001  (the connection's boundary:
                # any failure of the upstream or its transport is this upstream
                # being down, logged and recorded with its reason, retried below)
                await self._down(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, config.MCP_UPSTREAM_RETRY_MAX_SECS)

    async def _watch(self, session: ClientSession) -> None:
        """Return never: ping until the session is found gone, then raise."""
        while True:
            config = await aget_config()
            with contextlib.suppress(TimeoutError):
                # A timeout here is the normal case: nothing happened, time to ping.
                await asyncio.wait_for(self.wake.wait(), config.MCP_UPSTREAM_PING_SECS)
            self.wake.clear()
            if self.broken.is_set():
                raise UpstreamLostError(self.lost_reason)
            if self.tools_changed.is_set():
                self.tools_changed.clear()
                await self._store_tools(session)
                continue
            limit = config.MCP_UPSTREAM_CONNECT_TIMEOUT_SECS
            try:
                with anyio.fail_after(limit):
                    await session.send_ping()
            except TimeoutError:
                raise UpstreamLostError(
                    f"no answer to a ping within {limit:g}s"
                ) from None

    async def _store_tools(self, session: ClientSession) -> None:
        tools = await list_tool_defs(session)
        try:
            await database_sync_to_async(services.upstream_tools_store)(
                upstream_id=self.spec.id, tools=tools
            )
        except DatabaseError:
            # The tools stored before stay listed; the next connect stores again.
            logger.warning(
                "Cannot store the tools of upstream %s", self.spec.name, exc_info=True
            )

    async def _up(self, session: ClientSession) -> None:
        self.session, self.state, self.error = session, UP, ""
        self.since = time.time()
        self.broken.clear()
        self.wake.clear()
        self.ready.set()
        self.attempted.set()
        logger.info("Upstream MCP server %s is up", self.spec.name)
        await self._record(up=True)

    async def _down(self, exc: Exception) -> None:
        error = describe(exc)
        if self.state != DOWN:
            self.since = time.time()
            logger.warning(
                "Upstream MCP server %s is down: %s",
                self.spec.name,
                error,
                exc_info=exc,
            )
        elif error != self.error:
            # Retried every few seconds while down: the traceback once is enough.
            logger.warning(
                "Upstream MCP server %s still down: %s", self.spec.name, error
            )
        self.ready.clear()
        self.session, self.state, self.error = None, DOWN, error
        self.attempted.set()
        await self._record(up=False, error=error)

    async def _record(self, *, up: bool, error: str = "") -> None:
        try:
            await database_sync_to_async(services.upstream_status_record)(
                upstream_id=self.spec.id, up=up, error=error
            )
        except DatabaseError:
            # Status rows are for the admin; this process's own view (health)
            # stays right without them.
            logger.warning(
                "Cannot record the status of upstream %s", self.spec.name, exc_info=True
            )


def _read_version() -> tuple[Any, ...]:
    return tuple(
        McpUpstream.objects.order_by("id").values_list("id", "updated_at", "enabled")
    )


def _load(version: tuple[Any, ...]) -> dict[str, UpstreamSpec]:
    return {
        row.name: UpstreamSpec.of(row)
        for row in McpUpstream.objects.filter(enabled=True, provider__enabled=True)
    }


def _refresh_interval() -> float:
    # Not overridable, so the environment layer is the effective value.
    return settings.CONTROLPLANE_BASE_CONFIG.values["CONFIG_REFRESH_SECS"]


class Pool:
    """The connections of this process, one per enabled upstream."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follower: asyncio.Task[None] | None = None
        self._snapshot: RefreshingSnapshot[dict[str, UpstreamSpec]] = (
            RefreshingSnapshot(
                name="the upstream MCP servers",
                read_version=_read_version,
                load=_load,
                interval=_refresh_interval,
                fallback=dict,
            )
        )

    async def start(self) -> None:
        """Connect to every enabled upstream and follow changes of the rows."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Tasks of another (finished) loop cannot be awaited here: forget them.
            self._loop, self.connections, self._follower = loop, {}, None
        if self._follower is None or self._follower.done():
            await self._match(await self._snapshot.aget())
            self._follower = asyncio.create_task(self._follow(), name="mcp-upstreams")

    def running_here(self) -> bool:
        """Return True when the pool follows the upstreams on the running loop."""
        return (
            self._follower is not None
            and not self._follower.done()
            and self._loop is asyncio.get_running_loop()
        )

    async def stop(self) -> None:
        """Close every session (on shutdown)."""
        if self._follower is not None:
            self._follower.cancel()
            self._follower = None
        connections, self.connections = list(self.connections.values()), {}
        await asyncio.gather(*(connection.stop() for connection in connections))

    async def connection(self, name: str) -> Connection:
        """Return the connection to an upstream; raise ToolError if not enabled."""
        await self.start()
        connection = self.connections.get(name)
        if connection is None:
            # Added a moment ago: read the rows now rather than at the next tick.
            self._snapshot.invalidate()
            await self._match(await self._snapshot.aget())
            connection = self.connections.get(name)
        if connection is None:
            raise ToolError(f"upstream {name} is not enabled")
        return connection

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(_refresh_interval())
            try:
                await self._match(await self._snapshot.aget())
            except Exception:  # noqa: BLE001  (the follower's boundary: a bug in
                # one round must not stop this process from following the rows;
                # the open connections keep serving meanwhile)
                logger.exception("Cannot follow the upstream MCP servers")

    async def _match(self, specs: dict[str, UpstreamSpec]) -> None:
        stale = [
            name
            for name, connection in self.connections.items()
            if specs.get(name) != connection.spec
        ]
        for name in stale:
            await self.connections.pop(name).stop()
        for name, spec in specs.items():
            if name not in self.connections:
                self.connections[name] = Connection(spec)
