"""Upstream MCP servers as tools, end to end: a real `serve`, real upstreams
(stdio and streamable HTTP, on the SDK's MCPServer), `mcp_upstream` and a
WebSocket agent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from bus.models import McpUpstream, Tool
from tests.bus.gateway.upstreams.helpers import (
    HttpUpstream,
    call,
    health,
    kill_stdio_upstreams,
    list_tools,
    stdio_command,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LISTED_WITHIN_SECS = 10
BACK_WITHIN_SECS = 15


@pytest.fixture
def state(tmp_path) -> Path:
    folder = tmp_path / "upstream"
    folder.mkdir()
    return folder


@pytest.fixture
def http_upstream(state) -> Iterator[HttpUpstream]:
    upstream = HttpUpstream(state)
    upstream.start()
    yield upstream
    upstream.kill()


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
