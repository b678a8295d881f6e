"""/mcp/ during a real database outage, in process: an agent whose token this
worker verified keeps calling; a token it never saw cannot be checked (503).

The endpoint alone is the ASGI application, with a clock the test moves past
the interval within which a verified token is not checked again."""

from __future__ import annotations

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from bus.gateway.revocation import CHECK_INTERVAL_SECS
from bus.gateway.transports.mcp import McpEndpoint
from tests.mcp.clients import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "http://testserver"


async def test_mcp_outage__a_verified_agent_keeps_calling(
    gateway, agent, other_agent, database_down, caplog
) -> None:
    now = [1000.0]
    endpoint = McpEndpoint(gateway, clock=lambda: now[0])
    transport = httpx2.ASGITransport(app=endpoint)
    headers = {"Authorization": f"Bearer {agent[1]}"}
    async with (
        httpx2.AsyncClient(
            transport=transport, base_url=BASE, headers=headers, timeout=TIMEOUT
        ) as http,
        streamable_http_client(f"{BASE}/mcp/", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert (await session.call_tool("echo", {"text": "up"})).content[0].text == "up"
        with database_down:
            now[0] += CHECK_INTERVAL_SECS
            during = await session.call_tool("echo", {"text": "down"})
            assert during.content[0].text == "down"
            assert "admitted on its last check" in caplog.text
            async with httpx2.AsyncClient(transport=transport, base_url=BASE) as other:
                refused = await other.post(
                    "/mcp/",
                    json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    headers={
                        "Authorization": f"Bearer {other_agent[1]}",
                        "Accept": "application/json, text/event-stream",
                    },
                )
            assert refused.status_code == 503
            assert refused.headers["Retry-After"]
