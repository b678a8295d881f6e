"""The bridge's MCP side: an SDK server over stdio whose handlers call the gateway.

stdout carries MCP messages only; everything else (logs) goes to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR

from bus.gateway.transports.mcp_content import (
    content_of,
    error_body_result,
    error_result,
    tools_result,
)
from bus.mcp_bridge.upstream import BridgeError, Settings, Upstream
from bus.protocol import SERVER_VERSION, Op

logger = logging.getLogger(__name__)

SERVER_NAME = "agent-tool-control-plane-bridge"


class Bridge:
    """MCP requests from stdio, answered through the gateway's WebSocket."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=SERVER_VERSION,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: Any
    ) -> types.ListToolsResult:
        """List the gateway's tools for this agent, with their input schemas."""
        try:
            listings = await self.upstream.list_tools()
        except BridgeError as exc:
            # An MCPError's message reaches the client (another exception's
            # would be hidden by the SDK).
            raise MCPError(INTERNAL_ERROR, f"{exc.code}: {exc}") from exc
        return tools_result(listings)

    async def call_tool(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.CallToolRequestParams,
    ) -> types.CallToolResult:
        """Run a call on the gateway; heartbeats become progress notifications."""
        request_id = self.upstream.new_request_id()
        token = (ctx.meta or {}).get("progress_token")
        accepted_at = [time.monotonic()]

        async def on_progress(frame: dict[str, Any]) -> None:
            if frame["op"] == Op.CALL_TOOL_ACK:
                # Again after a reconnect that ran the call anew.
                accepted_at[0] = time.monotonic()
                return
            if token is None:
                return
            await ctx.session.send_progress_notification(
                token,
                progress=round(time.monotonic() - accepted_at[0], 3),
                message=frame.get("note"),
                related_request_id=ctx.request_id,
            )

        try:
            result = await self.upstream.call(
                request_id, params.name, params.arguments or {}, on_progress
            )
        except BridgeError as exc:
            return error_result(exc.code, str(exc))
        except anyio.get_cancelled_exc_class():
            # The MCP client cancelled: the gateway must stop the call too.
            with anyio.CancelScope(shield=True):
                await self.upstream.cancel(request_id)
            raise
        if "error" in result:
            return error_body_result(result["error"])
        return types.CallToolResult(content=content_of(result["outputs"]))


async def serve(settings: Settings) -> None:
    """Serve MCP on stdio until the client closes it."""
    upstream = Upstream(settings)
    bridge = Bridge(upstream)
    connection = asyncio.create_task(upstream.run())
    try:
        async with stdio_server() as (read, write):
            await bridge.server.run(
                read, write, bridge.server.create_initialization_options()
            )
    finally:
        connection.cancel()
        await asyncio.wait({connection})
    logger.info("MCP client closed stdio; bridge to %s stopped", settings.url)
