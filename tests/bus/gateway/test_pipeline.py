"""The call pipeline without a socket, through an in-memory transport."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from bus.gateway.events import Answer, CallEvent
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Agent, Session
from bus.protocol import CallRequest

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """An in-memory transport: keeps every event the pipeline delivers."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []
        self.closed_with: int | None = None

    async def deliver(self, event: CallEvent) -> int:
        self.events.append(event)
        return 1

    async def close(self, code: int) -> None:
        self.closed_with = code

    def result(self, request_id: str) -> dict[str, Any]:
        """Return the body of the call's answer."""
        return next(
            e.body
            for e in self.events
            if isinstance(e, Answer) and e.request_id == request_id
        )


async def _call(gateway: Gateway, session: Session, name: str, **arguments: Any):
    await gateway.call_tool(
        session,
        CallRequest(name=name, request_id=name, arguments=arguments),
        time.perf_counter(),
    )
    while gateway.tasks:
        await next(iter(gateway.tasks))


def _session(gateway: Gateway, recorder: Recorder) -> Session:
    return gateway.open_session(
        agent=Agent(key="a1", id=None, name="test"), transport=recorder, token_hash=None
    )


async def test_gateway__result_too_big_for_a_frame_is_never_dropped(
    gateway, ws_config
) -> None:
    ws_config(WS_MAX_MESSAGE_BYTES=64 * 1024)
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "generate", bytes=100_000)
    error = recorder.result("generate")["error"]
    assert error["code"] == "BUS_UNAVAILABLE"
    assert "100" in error["message"]


async def test_gateway__sync_tool_is_answered_at_its_deadline(
    gateway, make_tool
) -> None:
    await sync_to_async(make_tool)(
        "block", "tests.bus.sample_tools.block", timeout_secs=0.1
    )
    recorder = Recorder()
    started = time.monotonic()
    await _call(gateway, _session(gateway, recorder), "block", seconds=1)
    assert recorder.result("block")["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 0.9
    assert await gateway.capacity.global_inflight() == 0


async def test_gateway__drain_cancels_calls_past_the_grace(gateway) -> None:
    recorder = Recorder()
    session = _session(gateway, recorder)
    await gateway.call_tool(
        session,
        CallRequest(name="sleep", request_id="long", arguments={"seconds": 30}),
        time.perf_counter(),
    )
    assert await gateway.drain(0.05) == 1
    assert recorder.result("long")["error"] == {
        "code": "CANCELLED",
        "message": "server shutting down",
    }
    await gateway.call_tool(
        session,
        CallRequest(name="echo", request_id="late", arguments={"text": "x"}),
        time.perf_counter(),
    )
    assert recorder.result("late")["error"]["code"] == "OVER_CAPACITY"
    assert await gateway.capacity.global_inflight() == 0
