"""The replay promise against a real server: another agent's flood never evicts
an agent's cached results, so a resend after it runs nothing a second time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bus.models import Provider, Tool
from tests.servers import REDIS_URL, needs_redis, redis_keys_cleared

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FLOOD_CALLS = 400
RECEIVE_TIMEOUT_SECS = 10


@pytest.fixture
def append_tool(db) -> Tool:
    """A tool with side effects (idempotent off), as an operator adds it."""
    provider, _ = Provider.objects.get_or_create(name="tests")
    return Tool.objects.create(
        name="append_line",
        target="tests.hostile.side_effects.append_line",
        provider=provider,
        idempotent=False,
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string"}, "line": {"type": "string"}},
            "required": ["path", "line"],
        },
    )


@pytest.fixture(
    params=[
        "memory",
        pytest.param(
            "redis",
            marks=needs_redis,
        ),
    ]
)
def cache_environment(request, agent, other_agent) -> Iterator[dict[str, str]]:
    """The server's result cache: its own memory, or Redis (keys of these agents
    cleared before and after, since agent ids repeat across test databases)."""
    if request.param == "memory":
        yield {}
        return
    mine, theirs = (f"ws:{{a{row.pk}}}" for row in (agent[0], other_agent[0]))
    with redis_keys_cleared(REDIS_URL, mine), redis_keys_cleared(REDIS_URL, theirs):
        yield {"REDIS_URL": REDIS_URL}


async def _open(port: int, token: str) -> ClientConnection:
    ws = await ws_connect(f"ws://127.0.0.1:{port}/ws/")
    await ws.send(json.dumps({"op": "hello", "token": token}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
    assert ack["ok"] is True, ack
    return ws


async def _call(
    ws: ClientConnection, name: str, arguments: dict[str, Any], request_id: str
) -> list[dict[str, Any]]:
    """Send a call; return its frames up to its result, heartbeats left out."""
    await ws.send(
        json.dumps(
            {
                "op": "call_tool",
                "name": name,
                "request_id": request_id,
                "arguments": arguments,
            }
        )
    )
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
        if frame["op"] != "progress":
            frames.append(frame)
        if frame["op"] == "call_tool_res" and frame["request_id"] == request_id:
            return frames


def test_replay__another_agents_flood_evicts_nothing_and_runs_nothing_twice(
    control_plane, agent, other_agent, append_tool, cache_environment, tmp_path
) -> None:
    server = control_plane(**cache_environment)
    runs = tmp_path / "runs.txt"
    pay = {"path": str(runs), "line": "paid"}

    async def scenario() -> None:
        mine = await _open(server.port, agent[1])
        echoed = await _call(mine, "echo", {"text": "keep me"}, "echo-1")
        paid = await _call(mine, "append_line", pay, "pay-1")
        assert paid[0]["op"] == "call_tool_ack" and paid[-1]["text"] == "1 lines"
        await mine.close()

        theirs = await _open(server.port, other_agent[1])
        for n in range(FLOOD_CALLS):
            flood = await _call(theirs, "echo", {"text": f"flood {n}"}, f"f-{n}")
            assert flood[-1]["text"] == f"flood {n}"
        await theirs.close()

        again = await _open(server.port, agent[1])
        # A replay is the result frame alone: no ack, nothing ran.
        assert await _call(again, "echo", {"text": "keep me"}, "echo-1") == [echoed[-1]]
        assert await _call(again, "append_line", pay, "pay-1") == [paid[-1]]
        other = {**pay, "line": "paid twice"}
        conflict = await _call(again, "append_line", other, "pay-1")
        assert [frame["error"]["code"] for frame in conflict] == ["REQUEST_ID_CONFLICT"]
        await again.close()

    asyncio.run(scenario())
    assert Path(runs).read_text().splitlines() == ["paid"]
