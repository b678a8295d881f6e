"""One session to an upstream MCP server, on the official SDK's client.

The SDK does all MCP framing and session handling; this module only chooses
the transport, lifts the SDK's 1 MiB limit on one server-sent event (results
larger than that are normal here: the bus exists for them), and turns the SDK's
results into the gateway's outputs and tool definitions.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from bus.gateway.upstreams.spec import ToolDef, UpstreamSpec
from bus.models import McpUpstream

logger = logging.getLogger(__name__)

OnToolsChanged = Callable[[], Awaitable[None]]


def _handler(on_tools_changed: OnToolsChanged | None) -> Any:
    async def handle(message: Any) -> None:
        # Only the tool list matters here; every other notification or
        # transport hiccup is the SDK's to log.
        if on_tools_changed is not None and isinstance(
            message, types.ToolListChangedNotification
        ):
            await on_tools_changed()

    return handle


@asynccontextmanager
async def upstream_session(
    spec: UpstreamSpec,
    *,
    connect_timeout: float,
    on_tools_changed: OnToolsChanged | None = None,
) -> AsyncIterator[ClientSession]:
    """Open and initialize a session to the upstream; close it on exit.

    Raises what the transport raises when the upstream cannot be reached
    (OSError, httpx2.HTTPError, the SDK's MCPError), or TimeoutError when it
    does not complete the handshake within connect_timeout.
    """
    async with AsyncExitStack() as stack:
        if spec.transport == McpUpstream.Transport.STDIO:
            params = StdioServerParameters(
                command=spec.command, args=list(spec.args), env=dict(spec.env) or None
            )
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            # Reads wait for long tool calls: the call's own timeout bounds them.
            http = create_mcp_http_client(
                headers=dict(spec.headers),
                timeout=httpx2.Timeout(connect_timeout, read=None),
            )
            await stack.enter_async_context(http)
            read, write = await stack.enter_async_context(
                streamable_http_client(
                    spec.url, http_client=http, max_sse_event_size=None
                )
            )
        session = await stack.enter_async_context(
            ClientSession(read, write, message_handler=_handler(on_tools_changed))
        )
        try:
            with anyio.fail_after(connect_timeout):
                await session.initialize()
        except TimeoutError:
            raise TimeoutError(
                f"no MCP handshake within {connect_timeout:g}s"
            ) from None
        yield session


def _idempotent(annotations: types.ToolAnnotations | None) -> bool:
    # MCP's defaults: readOnlyHint and idempotentHint are false when missing.
    if annotations is None:
        return False
    return bool(annotations.read_only_hint) or bool(annotations.idempotent_hint)


async def list_tool_defs(session: ClientSession) -> list[ToolDef]:
    """Return every tool the upstream lists, following pagination."""
    tools: list[ToolDef] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(
            ToolDef(
                remote_name=tool.name,
                description=tool.description or tool.title or "",
                input_schema=dict(tool.input_schema or {"type": "object"}),
                idempotent=_idempotent(tool.annotations),
            )
            for tool in page.tools
        )
        cursor = page.next_cursor
        if not cursor:
            return tools


async def fetch_tool_defs(
    spec: UpstreamSpec, *, connect_timeout: float
) -> list[ToolDef]:
    """Connect once, list the upstream's tools and disconnect."""
    async with upstream_session(spec, connect_timeout=connect_timeout) as session:
        return await list_tool_defs(session)


def result_outputs(result: types.CallToolResult) -> list[dict[str, Any]]:
    """Return an upstream's tool result content as the gateway's outputs."""
    return [
        block.model_dump(mode="json", by_alias=True, exclude_none=True)
        for block in result.content
    ]


def result_text(result: types.CallToolResult) -> str:
    """Return the text blocks of a result joined: what an error result says."""
    return "\n".join(
        block.text for block in result.content if isinstance(block, types.TextContent)
    )


def describe(error: BaseException) -> str:
    """Return a one-line account of why an upstream failed, without secrets."""
    # The SDK's task groups wrap the transport's error: the first leaf says it.
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
