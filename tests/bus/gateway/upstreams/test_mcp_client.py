"""An upstream MCP server's tools, offered again over /mcp/: an MCP client of
the control plane lists and calls `<prefix>__<tool>` like any other tool."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from tests.bus.gateway.upstreams.helpers import list_tools, wait_until
from tests.mcp.clients import mcp_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LISTED_WITHIN_SECS = 10


async def test_mcp_client__lists_and_calls_an_upstream_servers_tool(
    control_plane, agent, http_upstream
) -> None:
    server = control_plane()
    token = agent[1]
    await database_sync_to_async(call_command)(
        "mcp_upstream", "add", "web", "--url", http_upstream.url, stdout=StringIO()
    )
    added_at = time.monotonic()
    await database_sync_to_async(wait_until)(
        lambda: "web__echo" in list_tools(server.port, token),
        LISTED_WITHIN_SECS - (time.monotonic() - added_at),
        "web__echo listed",
    )
    async with mcp_session(server.port, token) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert listed["web__echo"].description == "Return the text."
        assert (
            listed["web__echo"].input_schema["properties"]["text"]["type"] == "string"
        )
        answer = await session.call_tool("web__echo", {"text": "through two hops"})
        assert answer.is_error is False
        assert answer.content[0].text == "through two hops"
        failed = await session.call_tool("web__fail", {"message": "upstream says no"})
        assert failed.is_error is True
        assert failed.content[0].text.startswith("EXEC_ERROR: ")
        assert "upstream says no" in failed.content[0].text
