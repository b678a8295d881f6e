"""/mcp/ end to end: a real `manage.py serve`, driven by the MCP SDK's own client."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from email.message import Message

import httpx2
import pytest
from channels.db import database_sync_to_async
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from websockets.asyncio.client import connect as ws_connect

from bus.models import Message as BusMessage
from controlplane.tokens import agent_token_revoke
from tests.mcp.clients import TIMEOUT, mcp_session, mcp_url, metrics_lines
from tests.workers.clients import health, hello

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MIB = 1024 * 1024
SETTLE_SECS = 10
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


def _post(
    port: int, headers: dict[str, str], path: str = "/mcp/"
) -> tuple[int, Message]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(INITIALIZE).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


async def _global_inflight(port: int, token: str) -> int:
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/") as ws:
        await hello(ws, token)
        return (await health(ws))["global_inflight"]


async def _eventually(check, *, seconds: float = SETTLE_SECS) -> None:
    """Wait until `check()` is true (a bounded wait for the server to settle)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never settled"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_mcp__needs_a_valid_bearer_token(control_plane, agent, kind) -> None:
    server = control_plane(kind)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "x"},
    ):
        status, sent = _post(server.port, headers)
        assert status == 401, headers
        assert sent.get("WWW-Authenticate", "").startswith("Bearer")
    status, sent = _post(server.port, {"Authorization": f"Bearer {agent[1]}"})
    assert status == 200
    assert sent.get("Mcp-Session-Id")
    status, _ = _post(server.port, {"Authorization": f"Bearer {agent[1]}"}, "/mcp")
    assert status == 200


async def test_mcp__a_session_id_belongs_to_its_agent(
    control_plane, agent, other_agent
) -> None:
    server = control_plane()
    _, sent = _post(server.port, {"Authorization": f"Bearer {agent[1]}"})
    session_id = sent.get("Mcp-Session-Id")
    mine = {"Authorization": f"Bearer {agent[1]}", "Mcp-Session-Id": session_id}
    assert _post(server.port, mine)[0] == 200
    theirs = {"Authorization": f"Bearer {other_agent[1]}", "Mcp-Session-Id": session_id}
    assert _post(server.port, theirs)[0] == 404


async def test_mcp__failed_tokens_count_as_failed_hellos(control_plane, agent) -> None:
    server = control_plane(WS_AUTH_FAILURES_PER_MINUTE="3")
    for _ in range(3):
        assert _post(server.port, {"Authorization": "Bearer wrong"})[0] == 401
    # Limited now, whatever it sends, as a WebSocket hello would be.
    status, sent = _post(server.port, {"Authorization": f"Bearer {agent[1]}"})
    assert status == 429
    assert sent.get("Retry-After")


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_mcp__lists_and_calls_tools_with_progress(
    control_plane, agent, kind
) -> None:
    server = control_plane(kind)
    async with mcp_session(server.port, agent[1]) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"echo", "sleep", "generate"} <= set(listed)
        assert listed["echo"].input_schema["properties"]["text"]["type"] == "string"

        echoed = await session.call_tool("echo", {"text": "hello"})
        assert not echoed.is_error
        assert echoed.content[0].text == "hello"

        progress: list[tuple[float, float | None]] = []

        async def heard(value: float, total: float | None, message: str | None):
            progress.append((value, total))

        slept = await session.call_tool(
            "sleep", {"seconds": 0.5}, progress_callback=heard
        )
        assert slept.content[0].text == "slept 0.5"
    # Heartbeats every 0.05 s (the test server's interval), as seconds since
    # the call was accepted, without a total.
    assert len(progress) >= 3
    values = [value for value, _ in progress]
    assert values == sorted(values) and 0 < values[-1] < 5
    assert {total for _, total in progress} == {None}


async def test_mcp__protocol_errors_are_tool_errors_with_their_code(
    control_plane, agent
) -> None:
    server = control_plane(WS_SESSION_MAX_INFLIGHT="1")
    async with mcp_session(server.port, agent[1]) as session:
        unknown = await session.call_tool("no_such_tool", {})
        assert unknown.is_error
        assert unknown.content[0].text.startswith("TOOL_NOT_FOUND: ")

        bad = await session.call_tool("echo", {"text": 3})
        assert bad.is_error
        assert bad.content[0].text.startswith("INVALID_ARGUMENTS: ")

        # One MCP session is one session for WS_SESSION_MAX_INFLIGHT.
        running = asyncio.create_task(session.call_tool("sleep", {"seconds": 1}))
        await _eventually(
            lambda: _global_inflight_is(server.port, agent[1], 1), seconds=SETTLE_SECS
        )
        refused = await session.call_tool("echo", {"text": "one too many"})
        assert refused.is_error
        assert refused.content[0].text.startswith("OVER_CAPACITY: ")
        assert refused.structured_content["error"]["scope"] == "session"
        # Another MCP session of the same agent has its own limit.
        async with mcp_session(server.port, agent[1]) as other:
            assert (await other.call_tool("echo", {"text": "mine"})).content[
                0
            ].text == "mine"
        assert (await running).content[0].text == "slept 1"


async def _global_inflight_is(port: int, token: str, count: int) -> bool:
    return await _global_inflight(port, token) == count


async def test_mcp__request_ids_never_collide_across_sessions(
    control_plane, agent
) -> None:
    """Both sessions send JSON-RPC id 1 for their first call; each gets its own."""
    server = control_plane()
    async with (
        mcp_session(server.port, agent[1]) as first,
        mcp_session(server.port, agent[1]) as second,
    ):
        one, two = await asyncio.gather(
            first.call_tool("echo", {"text": "first"}),
            second.call_tool("echo", {"text": "second"}),
        )
    assert (one.content[0].text, two.content[0].text) == ("first", "second")


async def test_mcp__cancel_ends_the_call_on_the_server(control_plane, agent) -> None:
    server = control_plane()
    async with mcp_session(server.port, agent[1]) as session:
        started = asyncio.Event()

        async def heard(value: float, total: float | None, message: str | None):
            started.set()

        call = asyncio.create_task(
            session.call_tool("sleep", {"seconds": 60}, progress_callback=heard)
        )
        await asyncio.wait_for(started.wait(), SETTLE_SECS)
        assert await _global_inflight(server.port, agent[1]) == 1
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)

        async def nothing_in_flight() -> bool:
            return await _global_inflight(server.port, agent[1]) == 0

        await _eventually(nothing_in_flight)
        # The session still works after the cancel.
        assert (await session.call_tool("echo", {"text": "on"})).content[0].text == "on"

    async def recorded() -> bool:
        return any(
            line["name"] == "sleep" and line["outcome"] == "CANCELLED"
            for line in metrics_lines([server.metrics])
        )

    await _eventually(recorded)


async def test_mcp__a_bus_result_comes_in_full(control_plane, agent) -> None:
    server = control_plane()
    size = 2 * MIB
    async with mcp_session(server.port, agent[1]) as session:
        result = await session.call_tool("generate", {"bytes": size, "seed": 7})
    assert not result.is_error
    assert [block.type for block in result.content] == ["text"]
    assert len(result.content[0].text) == size
    assert "txn_" not in result.content[0].text[:200]
    # It went through the bus (above MESSAGE_BUS_THRESHOLD_BYTES), verified on read.
    assert await BusMessage.objects.filter(payload_size_bytes__gt=size).aexists()


async def test_mcp__resource_links_serve_a_bus_result_to_its_owner_only(
    control_plane, agent, other_agent
) -> None:
    server = control_plane(MCP_LARGE_RESULTS="resource_link")
    size = 2 * MIB
    async with mcp_session(server.port, agent[1]) as session:
        result = await session.call_tool("generate", {"bytes": size, "seed": 7})
        preview, link = result.content
        assert preview.type == "text" and 0 < len(preview.text) <= 512
        assert link.type == "resource_link" and link.uri.startswith("bus://txn_")
        read = await session.read_resource(link.uri)
        assert len(read.contents[0].text) == size
        assert read.contents[0].text.startswith(preview.text)
    async with mcp_session(server.port, other_agent[1]) as intruder:
        with pytest.raises(MCPError) as refused:
            await intruder.read_resource(link.uri)
        with pytest.raises(MCPError) as unknown:
            await intruder.read_resource("bus://txn_" + "0" * 32)
    assert refused.value.code == unknown.value.code == INVALID_PARAMS
    assert refused.value.message.startswith("Unknown resource")


async def test_mcp__a_2026_client_without_sessions_is_served_too(
    control_plane, agent
) -> None:
    """The SDK's default client negotiates the per-request protocol (2026-07-28)."""
    server = control_plane()
    headers = {"Authorization": f"Bearer {agent[1]}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http,
        Client(
            streamable_http_client(mcp_url(server.port), http_client=http)
        ) as client,
    ):
        assert client.protocol_version == "2026-07-28"
        assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("echo", {"text": "modern"})
        assert echoed.content[0].text == "modern"
        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error and unknown.content[0].text.startswith("TOOL_NOT_FOUND")
        # Cancelling closes the request's stream, which cancels the call.
        started = asyncio.Event()

        async def heard(value: float, total: float | None, message: str | None):
            started.set()

        call = asyncio.create_task(
            client.call_tool("sleep", {"seconds": 60}, progress_callback=heard)
        )
        await asyncio.wait_for(started.wait(), SETTLE_SECS)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)

        async def nothing_in_flight() -> bool:
            return await _global_inflight(server.port, agent[1]) == 0

        await _eventually(nothing_in_flight)


async def test_mcp__revoking_the_token_ends_waiting_calls_and_later_requests(
    control_plane, agent
) -> None:
    server = control_plane()
    async with mcp_session(server.port, agent[1]) as session:
        started = asyncio.Event()

        async def heard(value: float, total: float | None, message: str | None):
            started.set()

        call = asyncio.create_task(
            session.call_tool("sleep", {"seconds": 60}, progress_callback=heard)
        )
        await asyncio.wait_for(started.wait(), SETTLE_SECS)
        await database_sync_to_async(agent_token_revoke)(agent=agent[0])
        # Within the 5 s PROTOCOL.md gives a revocation.
        ended = await asyncio.wait_for(call, SETTLE_SECS)
        assert ended.is_error
        assert ended.content[0].text.startswith("UNAUTHORIZED: ")
    status, _ = _post(server.port, {"Authorization": f"Bearer {agent[1]}"})
    assert status == 401
