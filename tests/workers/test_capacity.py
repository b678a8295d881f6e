"""Two real `serve` processes on one Postgres and one Redis share their capacity
limits, and a worker killed with slots held frees them within its lease."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bus.gateway.state.redis_capacity import PREFIX
from tests.servers import REDIS_URL, Server, free_port, needs_redis, redis_keys_cleared

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    needs_redis,
]

GLOBAL_MAX = 4
# Leases last min(WS_CALL_TIMEOUT_SECS, 30 s): 3 s here.
LEASE_SECS = 3.0
# Scheduling on a loaded machine, on top of the lease: not a speed target.
SLACK_SECS = 2.0
RECEIVE_TIMEOUT_SECS = 10


@pytest.fixture
def shared_capacity() -> Iterator[dict[str, str]]:
    """The servers' environment; the deployment's capacity keys cleared around it."""
    with redis_keys_cleared(REDIS_URL, PREFIX):
        yield {
            "REDIS_URL": REDIS_URL,
            "WS_GLOBAL_MAX_INFLIGHT": str(GLOBAL_MAX),
            "WS_CALL_TIMEOUT_SECS": str(LEASE_SECS),
        }


async def _open(server: Server, token: str) -> ClientConnection:
    ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/")
    await ws.send(json.dumps({"op": "hello", "token": token}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
    assert ack["ok"] is True, ack
    return ws


async def _send_sleep(ws: ClientConnection, request_id: str, seconds: float) -> None:
    await ws.send(
        json.dumps(
            {
                "op": "call_tool",
                "name": "sleep",
                "request_id": request_id,
                "arguments": {"seconds": seconds},
            }
        )
    )


async def _first_replies(
    ws: ClientConnection, request_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Return each request's first reply: its acceptance or its error result."""
    replies: dict[str, dict[str, Any]] = {}
    while len(replies) < len(request_ids):
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
        if frame["op"] in ("call_tool_ack", "call_tool_res") and (
            frame["request_id"] in request_ids
        ):
            replies.setdefault(frame["request_id"], frame)
    return replies


async def _results(ws: ClientConnection, request_ids: set[str]) -> None:
    """Wait for the results of the given requests."""
    pending = set(request_ids)
    while pending:
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
        if frame["op"] == "call_tool_res":
            pending.discard(frame["request_id"])


def _accepted(replies: dict[str, dict[str, Any]]) -> set[str]:
    return {rid for rid, frame in replies.items() if frame.get("accepted") is True}


def _refused_scope(reply: dict[str, Any]) -> str:
    assert reply["op"] == "call_tool_res", reply
    assert reply["error"]["code"] == "OVER_CAPACITY", reply
    return reply["error"]["scope"]


async def _calls(
    ws: ClientConnection, prefix: str, seconds: list[float]
) -> dict[str, dict[str, Any]]:
    # Distinct arguments, so that no call is a DUPLICATE of another.
    ids = [f"{prefix}-{n}" for n in range(len(seconds))]
    for request_id, wait in zip(ids, seconds, strict=True):
        await _send_sleep(ws, request_id, wait)
    return await _first_replies(ws, ids)


def test_two_workers__share_the_global_limit_and_a_killed_one_frees_its_slots(
    tmp_path, builtin_tools, agent, shared_capacity
) -> None:
    one, two = (
        Server(tmp_path / name, port, **shared_capacity)
        for name, port in (("one", free_port()), ("two", free_port()))
    )
    for server in (one, two):
        server.health.parent.mkdir(parents=True)
        server.start()
    try:
        asyncio.run(_scenario(one, two, agent[1]))
    finally:
        for server in (one, two):
            server.stop()


async def _scenario(one: Server, two: Server, token: str) -> None:
    on_one = await _open(one, token)
    held = await _calls(on_one, "one", [2.9, 2.8])
    assert _accepted(held) == set(held)
    on_two = await _open(two, token)
    running = await _calls(on_two, "two", [1.0, 0.9])
    assert _accepted(running) == set(running)

    # Four run in the deployment: a fifth is refused on either worker.
    # Distinct arguments: with the calls in flight shared, the same call on
    # the other worker while the first is being admitted would be DUPLICATE.
    await _send_sleep(on_two, "fifth-two", 0.1)
    await _send_sleep(on_one, "fifth-one", 0.11)
    refused_two = (await _first_replies(on_two, ["fifth-two"]))["fifth-two"]
    assert _refused_scope(refused_two) == "global"
    refused_one = (await _first_replies(on_one, ["fifth-one"]))["fifth-one"]
    assert _refused_scope(refused_one) == "global"

    assert one.process is not None
    one.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    one.process.wait()
    await _results(on_two, set(running))
    await on_two.close()

    # The other worker accepts four again once the dead one's leases ran out.
    attempt = 0
    while True:
        attempt += 1
        ws = await _open(two, token)
        # Arguments new to each attempt: the semantic cache answers repeats.
        waits = [0.5 + attempt / 1000 + n / 100 for n in range(GLOBAL_MAX)]
        replies = await _calls(ws, f"again{attempt}", waits)
        if _accepted(replies) == set(replies):
            break
        assert {_refused_scope(r) for r in replies.values() if "error" in r} == {
            "global"
        }
        await _results(ws, _accepted(replies))
        await ws.close()
        assert time.monotonic() - killed_at < LEASE_SECS + SLACK_SECS
        await asyncio.sleep(0.1)
    freed_after = time.monotonic() - killed_at
    await _send_sleep(ws, "still-four", 0.2)
    assert _refused_scope((await _first_replies(ws, ["still-four"]))["still-four"]) == (
        "global"
    )
    await _results(ws, set(replies))
    await ws.close()
    assert freed_after < LEASE_SECS + SLACK_SECS
