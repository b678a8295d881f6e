"""The pipeline on Redis while Redis is down, for real (a Redis server of the
test's own, stopped and started again): calls are refused with a retryable
OVER_CAPACITY and leave nothing registered or held, a running call still
answers and can be cancelled, and calls work again once Redis is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bus.apps import bus_app
from bus.gateway.events import Answer
from bus.gateway.factory import build_gateway
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Agent, Session
from bus.protocol import CallRequest
from tests.bus.gateway.test_pipeline import Recorder

pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE = "unavailable: shared state (Redis) cannot be reached"
RECOVERY_DEADLINE_SECS = 15.0


@pytest.fixture
async def redis_gateway(ws_config, builtin_tools, own_redis) -> AsyncIterator[Gateway]:
    """A gateway whose shared state is in the test's own Redis."""
    ws_config(REDIS_URL=own_redis.url, REDIS_TIMEOUT_SECS=0.5, WS_RETRY_AFTER_SECS=2)
    gateway = build_gateway(claims=bus_app().claims)
    yield gateway
    await gateway.drain(0)
    await gateway.in_flight.aclose()
    await gateway.results.client.aclose()


def _session(gateway: Gateway, recorder: Recorder) -> Session:
    return gateway.open_session(
        agent=Agent(key="a1", id=None, name="test"), transport=recorder, token_hash=None
    )


async def _send(
    gateway: Gateway, session: Session, name: str, request_id: str, **arguments
) -> None:
    request = CallRequest(name=name, request_id=request_id, arguments=arguments)
    await gateway.call_tool(session, request, time.perf_counter())


def _answers(recorder: Recorder, request_id: str) -> list[Answer]:
    return [
        e
        for e in recorder.events
        if isinstance(e, Answer) and e.request_id == request_id
    ]


async def test_gateway__redis_down_refuses_calls_and_holds_nothing(
    redis_gateway, own_redis
) -> None:
    gateway, recorder = redis_gateway, Recorder()
    session = _session(gateway, recorder)
    await _send(gateway, session, "sleep", "long", seconds=30)
    await _send(gateway, session, "sleep", "short", seconds=0.5)
    assert set(gateway.running) == {("a1", "long"), ("a1", "short")}

    own_redis.stop()
    await _send(gateway, session, "echo", "down", text="x")
    error = recorder.result("down")["error"]
    assert error["code"] == "OVER_CAPACITY" and error["scope"] == "global"
    assert error["retry_after"] == 2 and error["message"].startswith(UNREACHABLE)
    # Nothing of the refused call is registered, held or running.
    assert set(gateway.running) == {("a1", "long"), ("a1", "short")}
    assert len(gateway.in_flight._held) == 2 and len(gateway.capacity._held) == 2
    # A call running here is cancelled without Redis.
    assert await gateway.cancel(session, "long") is True
    while gateway.tasks:
        await next(iter(gateway.tasks))
    assert recorder.result("long")["error"]["code"] == "CANCELLED"
    assert recorder.result("short")["outputs"][0]["text"] == "slept 0.5"
    assert gateway.running == {}
    assert gateway.in_flight._held == {} and gateway.capacity._held == {}

    own_redis.start()
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECS
    while "error" in _answers(recorder, "down")[-1].body:
        assert time.monotonic() < deadline, "calls did not recover"
        await asyncio.sleep(0.2)
        await _send(gateway, session, "echo", "down", text="x")
        while gateway.tasks:
            await next(iter(gateway.tasks))
    assert _answers(recorder, "down")[-1].body["outputs"][0]["text"] == "x"
    assert await gateway.in_flight.count() == 0
    assert await gateway.capacity.global_inflight() == 0
