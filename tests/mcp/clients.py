"""The MCP SDK's own clients, as the MCP clients of the README use them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

TIMEOUT = httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT)


def mcp_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/mcp/"


@asynccontextmanager
async def mcp_session(
    port: int,
    token: str | None,
    *,
    headers: dict[str, str] | None = None,
    new_connection_per_request: bool = False,
) -> AsyncIterator[ClientSession]:
    """Yield an initialized SDK session over streamable HTTP, bearer token set.

    `new_connection_per_request` keeps no connection alive, so that each
    request reaches whichever worker accepts it.
    """
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    limits = httpx2.Limits(
        max_keepalive_connections=0 if new_connection_per_request else 20
    )
    async with (
        httpx2.AsyncClient(headers=sent, timeout=TIMEOUT, limits=limits) as http,
        # A result in full can be larger than the SDK's default 1 MiB event.
        streamable_http_client(
            mcp_url(port), http_client=http, max_sse_event_size=None
        ) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def metrics_lines(paths: list[Path]) -> list[dict[str, Any]]:
    """Return the call records written so far to these metrics files."""
    lines = []
    for path in paths:
        if path.exists():
            lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines
