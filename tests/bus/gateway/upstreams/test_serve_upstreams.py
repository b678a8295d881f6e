"""Upstream MCP servers as tools, end to end: a real `serve`, real upstreams
(stdio and streamable HTTP, on the SDK's MCPServer), `mcp_upstream` and a
WebSocket agent."""

from __future__ import annotations

import asyncio
import json
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from websockets.asyncio.client import connect as ws_connect

from bus.models import McpUpstream, Provider, Tool
from tests.bus.gateway.upstreams.helpers import (
    call,
    health,
    kill_stdio_upstreams,
    list_tools,
    stdio_command,
    wait_until,
)
from tests.servers import REDIS_URL, needs_redis, redis_keys_cleared
from tests.workers.clients import health as worker_health
from tests.workers.clients import hello, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LISTED_WITHIN_SECS = 10
BACK_WITHIN_SECS = 15
WORKERS = 2
# Connections until both workers have answered: the kernel hands each one to
# whichever worker accepts first.
MAX_CONNECTIONS = 40


def _add(*arguments: str) -> str:
    out = StringIO()
    call_command("mcp_upstream", "add", *arguments, stdout=out)
    return out.getvalue()


def test_mcp_upstream__http_tools_listed_called_and_survive_a_restart(
    control_plane, agent, http_upstream
) -> None:
    server = control_plane()
    token = agent[1]
    added_at = time.monotonic()
    out = _add("web", "--url", http_upstream.url, "--header", "X-Api-Key: s3cret")
    assert "web__echo" in out

    wait_until(
        lambda: "web__echo" in list_tools(server.port, token),
        LISTED_WITHIN_SECS - (time.monotonic() - added_at),
        "web__echo listed",
    )
    tools = list_tools(server.port, token)
    assert tools["web__echo"]["inputSchema"]["properties"]["text"]["type"] == "string"
    assert tools["web__echo"]["description"] == "Return the text."
    answer = call(server.port, token, "web__echo", text="hello upstream")
    assert answer["outputs"] == [{"type": "text", "text": "hello upstream"}]
    # readOnlyHint: the same arguments again come from the semantic cache;
    # no annotations: side effects, so the upstream runs every call.
    again = call(server.port, token, "web__echo", text="hello upstream")
    assert again.get("cached") is True
    call(server.port, token, "web__record", text="once")
    assert "cached" not in call(server.port, token, "web__record", text="once")
    failed = call(server.port, token, "web__fail", message="upstream says no")
    assert failed["error"]["code"] == "EXEC_ERROR"
    assert "upstream says no" in failed["error"]["message"]
    wait_until(
        lambda: health(server.port).get("mcp_upstream:web") == "OK", 10, "health OK"
    )

    http_upstream.kill()
    down = call(server.port, token, "web__echo", text="anyone?")
    assert down["error"]["code"] == "EXEC_ERROR"
    assert "web" in down["error"]["message"]
    assert call(server.port, token, "echo", text="still here")["text"] == "still here"
    wait_until(
        lambda: health(server.port).get("mcp_upstream:web") != "OK",
        BACK_WITHIN_SECS,
        "health not OK",
    )
    assert "down" in health(server.port)["mcp_upstream:web"]
    row = McpUpstream.objects.get(name="web")
    assert row.status == McpUpstream.Status.DOWN and row.last_error

    http_upstream.start()
    took = wait_until(
        lambda: "text" in call(server.port, token, "web__echo", text="back"),
        BACK_WITHIN_SECS,
        "web__echo works again",
    )
    assert took < BACK_WITHIN_SECS
    wait_until(
        lambda: health(server.port).get("mcp_upstream:web") == "OK", 10, "health OK"
    )


def test_mcp_upstream__stdio_session_is_reused_and_relaunched(
    control_plane, agent, state
) -> None:
    server = control_plane()
    token = agent[1]
    _add("local", "--stdio", stdio_command(), "--env", f"UPSTREAM_STATE_DIR={state}")
    wait_until(
        lambda: "local__echo" in list_tools(server.port, token),
        LISTED_WITHIN_SECS,
        "local__echo listed",
    )
    assert call(server.port, token, "local__echo", text="one")["text"] == "one"
    first = (state / "pid").read_text()
    assert call(server.port, token, "local__upper", text="two")["text"] == "TWO"
    # One process served both calls: the session is kept, not launched per call.
    assert (state / "pid").read_text() == first
    assert "local__extra" not in list_tools(server.port, token)
    assert call(server.port, token, "local__grow")["text"] == "grown"
    # The upstream said its list changed: listed without a refresh.
    wait_until(
        lambda: "local__extra" in list_tools(server.port, token),
        LISTED_WITHIN_SECS,
        "local__extra listed",
    )

    (state / "down").write_text("stay down")
    kill_stdio_upstreams(state)
    down = call(server.port, token, "local__echo", text="anyone?")
    assert down["error"]["code"] == "EXEC_ERROR"
    wait_until(
        lambda: health(server.port).get("mcp_upstream:local") != "OK",
        BACK_WITHIN_SECS,
        "health not OK",
    )
    assert call(server.port, token, "echo", text="fine")["text"] == "fine"

    (state / "down").unlink()
    wait_until(
        lambda: "text" in call(server.port, token, "local__echo", text="back"),
        BACK_WITHIN_SECS,
        "local__echo works again",
    )
    assert (state / "pid").read_text() != first


def test_mcp_upstream__annotations_decide_idempotence(http_upstream, db) -> None:
    _add("web", "--url", http_upstream.url)
    idempotent = dict(
        Tool.objects.filter(upstream__name="web").values_list("name", "idempotent")
    )
    assert idempotent["web__echo"] is True  # readOnlyHint
    assert idempotent["web__upper"] is True  # idempotentHint, readOnlyHint false
    assert idempotent["web__record"] is False  # no annotations: MCP's defaults


async def _cancel_limit_and_bus(port: int, token: str, state: Path) -> None:
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/", max_size=None) as ws:
        assert (await hello(ws, token))["ok"] is True
        await ws.send(json.dumps(_sleep("s-1", 30)))
        assert (await receive(ws, "call_tool_ack"))["request_id"] == "s-1"
        # The provider allows one call at a time: the second waits for nothing.
        await ws.send(json.dumps(_sleep("s-2", 29)))
        refused = await receive(ws, "call_tool_res")
        assert refused["error"]["code"] == "OVER_CAPACITY"
        assert refused["error"]["scope"] == "provider"
        # A cancel before the request reached the upstream would leave it
        # nothing to cancel: wait until its tool runs.
        await asyncio.to_thread(
            wait_until, (state / "started").exists, 10, "upstream sleep started"
        )
        # The upstream's own progress comes on as heartbeats with a note.
        while "upstream progress" not in (await receive(ws, "progress")).get(
            "note", ""
        ):
            pass
        await ws.send(json.dumps({"op": "cancel", "request_id": "s-1"}))
        cancelled = await receive(ws, "call_tool_res")
        assert cancelled["error"]["code"] == "CANCELLED"
        big = {"op": "call_tool", "name": "web__big", "request_id": "b-1"}
        await ws.send(json.dumps({**big, "arguments": {"size": 3 * 1024 * 1024}}))
        stored = await receive(ws, "call_tool_res")
        assert stored["bus"]["size_bytes"] > 3 * 1024 * 1024
        assert stored["bus"]["preview"] == "x" * 512


def _sleep(request_id: str, seconds: float) -> dict[str, Any]:
    return {
        "op": "call_tool",
        "name": "web__sleep",
        "request_id": request_id,
        "arguments": {"seconds": seconds},
    }


def test_mcp_upstream__cancel_reaches_upstream_provider_limits_and_bus_holds_big(
    control_plane, agent, http_upstream, state
) -> None:
    _add("web", "--url", http_upstream.url, "--provider", "one-at-a-time")
    Provider.objects.filter(name="one-at-a-time").update(max_inflight=1)
    server = control_plane()
    asyncio.run(_cancel_limit_and_bus(server.port, agent[1], state))
    # notifications/cancelled reached the upstream: its tool saw the cancel.
    wait_until(lambda: (state / "cancelled").exists(), 10, "upstream cancelled")


async def _workers_serving(port: int, token: str) -> dict[str, str]:
    answers: dict[str, str] = {}
    for attempt in range(MAX_CONNECTIONS):
        async with ws_connect(f"ws://127.0.0.1:{port}/ws/") as ws:
            assert (await hello(ws, token))["ok"] is True
            worker = (await worker_health(ws))["worker"]
            text = f"{worker} #{attempt}"
            await ws.send(
                json.dumps(
                    {
                        "op": "call_tool",
                        "name": "local__echo",
                        "request_id": f"w-{attempt}",
                        "arguments": {"text": text},
                    }
                )
            )
            answer = await receive(ws, "call_tool_res")
            assert answer.get("text") == text, answer
            answers[worker] = text
        if len(answers) == WORKERS:
            return answers
    return answers


@needs_redis
def test_mcp_upstream__two_workers_on_redis_both_serve_upstream_tools(
    control_plane, agent, state
) -> None:
    _add("local", "--stdio", stdio_command(), "--env", f"UPSTREAM_STATE_DIR={state}")
    with redis_keys_cleared(REDIS_URL, "ws"):
        server = control_plane("uvicorn", workers=WORKERS, REDIS_URL=REDIS_URL)
        answers = asyncio.run(_workers_serving(server.port, agent[1]))
    assert len(answers) == WORKERS


def test_mcp_upstream__a_restarted_http_upstream_serves_the_next_call(
    control_plane, agent, http_upstream
) -> None:
    """The restarted upstream forgot our session: the call runs on a new one."""
    _add("web", "--url", http_upstream.url)
    # No ping in between: the call itself finds the session gone.
    server = control_plane(MCP_UPSTREAM_PING_SECS="600")
    token = agent[1]
    assert call(server.port, token, "web__echo", text="before")["text"] == "before"
    http_upstream.kill()
    http_upstream.start()
    assert call(server.port, token, "web__echo", text="after")["text"] == "after"
