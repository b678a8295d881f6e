"""Calls in flight across two real `serve` processes on one Postgres and one
Redis: a resend on the other worker joins the call (it runs once), conflicts
and DUPLICATE see the other worker's calls, a cancel from the other worker
reaches every waiting session, and a worker killed while it runs a call
leaves no session waiting and its resend answered."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.gateway.state.redis_capacity import PREFIX as CAPACITY_PREFIX
from bus.gateway.state.redis_inflight import PREFIX as IN_FLIGHT_PREFIX
from bus.models import Provider, Tool
from bus.protocol import DUPLICATE_NOTE
from tests.servers import REDIS_URL, Server, needs_redis, redis_keys_cleared
from tests.workers.clients import (
    accepted,
    error_of,
    frames_of,
    is_first_reply,
    is_result,
    open_session,
    send_call,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    needs_redis,
]

# Entries and slots are leases of min(WS_CALL_TIMEOUT_SECS, 30 s): 3 s here.
LEASE_SECS = 3.0
# What a waiting session may take to learn that the runner died: the lease,
# two checks of a third of it, and scheduling on a loaded machine.
LOST_WITHIN_SECS = LEASE_SECS + 2 * LEASE_SECS / 3 + 4.0
RECEIVE_TIMEOUT_SECS = 10


@pytest.fixture
def append_after_tool(db) -> Tool:
    """A long tool with side effects (idempotent off) whose runs leave lines."""
    provider, _ = Provider.objects.get_or_create(name="tests")
    return Tool.objects.create(
        name="append_line_after",
        target="tests.hostile.side_effects.append_line_after",
        provider=provider,
        idempotent=False,
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "line": {"type": "string"},
                "seconds": {"type": "number"},
            },
            "required": ["path", "line", "seconds"],
        },
    )


@pytest.fixture
def two_workers(
    control_plane, agent, append_after_tool
) -> Iterator[tuple[Server, Server]]:
    """Two `serve` processes sharing Redis; their keys cleared around the test."""
    agent_keys = f"ws:{{a{agent[0].pk}}}"
    with (
        redis_keys_cleared(REDIS_URL, IN_FLIGHT_PREFIX),
        redis_keys_cleared(REDIS_URL, CAPACITY_PREFIX),
        redis_keys_cleared(REDIS_URL, agent_keys),
    ):
        environment = {
            "REDIS_URL": REDIS_URL,
            "WS_CALL_TIMEOUT_SECS": str(LEASE_SECS),
        }
        yield control_plane(**environment), control_plane(**environment)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_calls_in_flight__behave_on_two_workers_as_on_one(
    two_workers, agent, tmp_path
) -> None:
    asyncio.run(_across_workers(*two_workers, agent[1], tmp_path / "runs.txt"))


async def _across_workers(one: Server, two: Server, token: str, runs: Path) -> None:
    on_one, on_two, also_two = (
        await open_session(one.port, token),
        await open_session(two.port, token),
        await open_session(two.port, token),
    )
    paid = {"path": str(runs), "line": "paid", "seconds": 1.0}

    # A resend on the other worker: the note at once, heartbeats, the one answer.
    await send_call(on_one, "append_line_after", "pay", paid)
    await accepted(on_one, "pay")
    await send_call(on_two, "append_line_after", "pay", paid)
    joined = await frames_of(on_two, "pay", is_result)
    assert joined[0]["op"] == "progress" and joined[0]["note"] == DUPLICATE_NOTE
    assert any(f["op"] == "progress" and f.get("note") is None for f in joined)
    assert joined[-1]["outputs"][0]["text"] == "1 lines"
    assert (await frames_of(on_one, "pay", is_result))[-1] == joined[-1]
    assert _lines(runs) == 1

    # A request id in flight on one worker means that call on the other too.
    await send_call(on_one, "sleep", "nap", {"seconds": 1.5})
    await accepted(on_one, "nap")
    await send_call(on_two, "sleep", "nap", {"seconds": 2})
    conflict = error_of(await frames_of(on_two, "nap", is_first_reply))
    assert conflict["code"] == "REQUEST_ID_CONFLICT"
    # The same call under another request id is DUPLICATE across workers.
    await send_call(on_two, "sleep", "nap-again", {"seconds": 1.5})
    duplicate = error_of(await frames_of(on_two, "nap-again", is_first_reply))
    assert duplicate["code"] == "DUPLICATE"
    assert duplicate["original_request_id"] == "nap"
    assert "error" not in (await frames_of(on_one, "nap", is_result))[-1]

    # A cancel from the other worker: ok, and CANCELLED to every waiting session.
    await send_call(on_one, "sleep", "long", {"seconds": 2.5})
    await accepted(on_one, "long")
    await send_call(also_two, "sleep", "long", {"seconds": 2.5})
    assert (await frames_of(also_two, "long", lambda f: True))[0]["note"] == (
        DUPLICATE_NOTE
    )
    await on_two.send(json.dumps({"op": "cancel", "request_id": "long"}))
    # cancel_res and the CANCELLED result may come in either order.
    # The cancelling session waits for the call too: heartbeats may come first.
    ends = {"cancel_res", "call_tool_res"}
    seen: set[str] = set()
    cancelled = await frames_of(
        on_two, "long", lambda f: seen.add(f["op"]) or ends <= seen
    )
    ops = {frame["op"]: frame for frame in cancelled}
    assert set(ops) - {"progress"} == ends
    assert ops["cancel_res"]["ok"] is True
    assert ops["call_tool_res"]["error"]["code"] == "CANCELLED"
    for ws in (on_one, also_two):
        assert error_of(await frames_of(ws, "long", is_result))["code"] == "CANCELLED"
    for ws in (on_one, on_two, also_two):
        await ws.close()


def test_calls_in_flight__a_killed_worker_leaves_no_session_waiting(
    two_workers, agent, tmp_path
) -> None:
    one, two = two_workers
    asyncio.run(_killed(one, two, agent[1], tmp_path / "runs.txt"))


async def _killed(one: Server, two: Server, token: str, runs: Path) -> None:
    on_one, on_two = (
        await open_session(one.port, token),
        await open_session(two.port, token),
    )
    # A call that ended on the worker before it died: its answer is stored.
    quick = {"path": str(runs), "line": "quick", "seconds": 0.1}
    await send_call(on_one, "append_line_after", "stored", quick)
    stored = (await frames_of(on_one, "stored", is_result))[-1]
    assert stored["outputs"][0]["text"] == "1 lines"

    slow = {"path": str(runs), "line": "slow", "seconds": 2.5}
    await send_call(on_one, "append_line_after", "lost", slow)
    await accepted(on_one, "lost")
    await send_call(on_two, "append_line_after", "lost", slow)
    assert (await frames_of(on_two, "lost", lambda f: True))[0]["note"] == (
        DUPLICATE_NOTE
    )
    assert one.process is not None
    one.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    one.process.wait()

    lost = error_of(await frames_of(on_two, "lost", is_result))
    assert lost["code"] == "EXEC_ERROR"
    assert lost["message"].startswith("the worker running this call was lost")
    assert time.monotonic() - killed_at < LOST_WITHIN_SECS
    assert _lines(runs) == 1

    # On the surviving worker: the stored answer is replayed, the lost call
    # runs again, once.
    await send_call(on_two, "append_line_after", "stored", quick)
    assert (await frames_of(on_two, "stored", is_result))[-1] == stored
    await send_call(on_two, "append_line_after", "lost", slow)
    rerun = await frames_of(on_two, "lost", is_result)
    assert rerun[0]["op"] == "call_tool_ack"
    assert rerun[-1]["outputs"][0]["text"] == "2 lines"
    await on_two.close()
