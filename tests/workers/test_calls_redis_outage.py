"""Calls while the deployment's Redis is down, for real: a Redis server of the
test's own is stopped and started again under two real `serve` processes.
Calls are refused at once with a retryable OVER_CAPACITY, calls already
running still answer, and once Redis is back calls, joins and cancels across
the workers work again without a restart."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.servers import RedisServer, Server
from tests.workers.clients import (
    accepted,
    error_of,
    frames_of,
    is_first_reply,
    is_result,
    open_session,
    send_call,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REDIS_TIMEOUT_SECS = 1.0
RETRY_AFTER_SECS = 1
UNREACHABLE = "unavailable: shared state (Redis) cannot be reached"
# A refused call is answered within REDIS_TIMEOUT_SECS per command it tried,
# plus scheduling on a loaded machine: a bound, not a speed target.
REFUSED_WITHIN_SECS = 4 * REDIS_TIMEOUT_SECS + 3.0
RECOVERY_DEADLINE_SECS = 20.0
START_DEADLINE_SECS = 10.0


def test_calls__redis_outage_refuses_them_clearly_and_recovery_needs_no_restart(
    control_plane, agent, own_redis
) -> None:
    environment = {
        "REDIS_URL": own_redis.url,
        "REDIS_TIMEOUT_SECS": str(REDIS_TIMEOUT_SECS),
        "WS_RETRY_AFTER_SECS": str(RETRY_AFTER_SECS),
        "WS_CALL_TIMEOUT_SECS": "3",
    }
    one, two = control_plane(**environment), control_plane(**environment)
    asyncio.run(_outage(one, two, agent[1], own_redis))


def _unreachable(error: dict[str, Any]) -> None:
    assert error["code"] == "OVER_CAPACITY", error
    assert error["scope"] == "global" and error["retry_after"] == RETRY_AFTER_SECS
    assert error["message"].startswith(UNREACHABLE), error


async def _outage(one: Server, two: Server, token: str, redis: RedisServer) -> None:
    on_one, on_two = (
        await open_session(one.port, token),
        await open_session(two.port, token),
    )
    await send_call(on_one, "echo", "warm", {"text": "up"})
    assert "error" not in (await frames_of(on_one, "warm", is_result))[-1]
    await send_call(on_one, "sleep", "running", {"seconds": 1.0})
    await accepted(on_one, "running")

    redis.stop()
    started = time.monotonic()
    await send_call(on_two, "echo", "down", {"text": "x"})
    _unreachable(error_of(await frames_of(on_two, "down", is_first_reply)))
    assert time.monotonic() - started < REFUSED_WITHIN_SECS
    await on_two.send(json.dumps({"op": "cancel", "request_id": "down"}))
    cancel = (await frames_of(on_two, "down", lambda f: True))[-1]
    assert cancel["op"] == "cancel_res" and cancel["ok"] is False
    _unreachable(cancel["error"])
    # A call that was running still gets its answer.
    running = (await frames_of(on_one, "running", is_result))[-1]
    assert running["outputs"][0]["text"] == "slept 1"

    redis.start()
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECS
    while True:
        await send_call(on_two, "echo", "down", {"text": "x"})
        answer = (await frames_of(on_two, "down", is_result))[-1]
        if "error" not in answer:
            break
        _unreachable(answer["error"])
        assert time.monotonic() < deadline, "calls did not recover"
        await asyncio.sleep(answer["error"]["retry_after"])
    assert answer["outputs"][0]["text"] == "x"

    # Both workers listen again: a resend joins, a cancel crosses workers.
    await send_call(on_one, "sleep", "after", {"seconds": 2.5})
    await accepted(on_one, "after")
    await send_call(on_two, "sleep", "after", {"seconds": 2.5})
    assert (await frames_of(on_two, "after", lambda f: True))[0]["note"]
    await on_two.send(json.dumps({"op": "cancel", "request_id": "after"}))
    for ws in (on_one, on_two):
        assert error_of(await frames_of(ws, "after", is_result))["code"] == "CANCELLED"
    await on_one.close()
    await on_two.close()
