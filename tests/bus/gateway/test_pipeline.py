"""The call pipeline without a socket, through an in-memory transport."""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.db import database_sync_to_async

from bus.gateway.events import Accepted, Answer, CallEvent, Progress
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Agent, Session
from bus.protocol import CallRequest

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """An in-memory transport: keeps every event the pipeline delivers."""

    name = "memory"

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
    """Below the bus threshold but over the frame limit: the bus carries it."""
    ws_config(WS_MAX_MESSAGE_BYTES=64 * 1024)
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "generate", bytes=100_000)
    assert recorder.result("generate")["bus"]["size_bytes"] > 100_000


async def test_gateway__too_big_for_a_frame_without_the_bus_is_bus_unavailable(
    gateway, ws_config
) -> None:
    ws_config(WS_MAX_MESSAGE_BYTES=64 * 1024, MESSAGE_BUS_ENABLED=False)
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "generate", bytes=100_000)
    error = recorder.result("generate")["error"]
    assert error["code"] == "BUS_UNAVAILABLE"
    assert "100" in error["message"] and "65536-byte frame" in error["message"]


async def test_gateway__sync_tool_is_answered_at_its_deadline(
    gateway, make_tool
) -> None:
    await database_sync_to_async(make_tool)(
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


async def _request(
    gateway: Gateway, session: Session, name: str, request_id: str, **arguments: Any
) -> None:
    await gateway.call_tool(
        session,
        CallRequest(name=name, request_id=request_id, arguments=arguments),
        time.perf_counter(),
    )


async def test_gateway__accepted_call_gets_ack_heartbeats_then_one_answer(
    gateway, ws_config
) -> None:
    ws_config(WS_PROGRESS_INTERVAL_SECS=0.02)
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "sleep", seconds=0.1)
    kinds = [type(event) for event in recorder.events]
    assert kinds[0] is Accepted and kinds[-1] is Answer
    assert Progress in kinds[1:-1] and kinds.count(Answer) == 1
    assert recorder.events[0].timeout == 180
    assert recorder.result("sleep")["outputs"] == [
        {"type": "text", "text": "slept 0.1"}
    ]


async def test_gateway__replay_is_the_same_answer_and_reuse_is_marked_cached(
    gateway,
) -> None:
    recorder = Recorder()
    session = _session(gateway, recorder)
    await _call(gateway, session, "echo", text="hi")
    first = recorder.events[-1]
    await _request(gateway, session, "echo", "echo", text="hi")
    await _request(gateway, session, "echo", "other-id", text="hi")
    replayed, reused = recorder.events[-2], recorder.events[-1]
    assert replayed == Answer("echo", first.body) and not replayed.cached
    assert reused == Answer("other-id", first.body, cached=True)


async def test_gateway__resend_joins_and_same_arguments_are_duplicate(gateway) -> None:
    recorder, other = Recorder(), Recorder()
    session, second = _session(gateway, recorder), _session(gateway, other)
    await _request(gateway, session, "sleep", "r-1", seconds=0.1)
    await _request(gateway, second, "sleep", "r-1", seconds=0.1)
    await _request(gateway, session, "sleep", "r-2", seconds=0.1)
    note = other.events[0]
    assert isinstance(note, Progress) and note.note.startswith("duplicate request")
    assert recorder.result("r-2")["error"]["code"] == "DUPLICATE"
    assert recorder.result("r-2")["error"]["original_request_id"] == "r-1"
    while gateway.tasks:
        await next(iter(gateway.tasks))
    # The session that resent gets the call's one answer too.
    assert other.result("r-1") == recorder.result("r-1")


async def test_gateway__cancel_goes_through_the_in_flight_seam(gateway) -> None:
    recorder = Recorder()
    session = _session(gateway, recorder)
    await _request(gateway, session, "sleep", "long", seconds=30)
    assert await gateway.in_flight.find("a1", "long") is not None
    assert await gateway.cancel(session, "long") is True
    while gateway.tasks:
        await next(iter(gateway.tasks))
    assert recorder.result("long")["error"]["code"] == "CANCELLED"
    assert await gateway.in_flight.count() == 0
    assert await gateway.cancel(session, "long") is False


async def test_gateway__closed_session_releases_nothing_early(gateway) -> None:
    """A call outlives its session: its slot is held until it ends, then freed."""
    recorder = Recorder()
    session = _session(gateway, recorder)
    await _request(gateway, session, "sleep", "after", seconds=0.05)
    await gateway.close_session(session)
    assert await gateway.capacity.global_inflight() == 1
    while gateway.tasks:
        await next(iter(gateway.tasks))
    assert await gateway.capacity.global_inflight() == 0
    replayed = Recorder()
    await _request(gateway, _session(gateway, replayed), "sleep", "after", seconds=0.05)
    assert replayed.result("after")["outputs"][0]["text"] == "slept 0.05"


# Request-id conflicts: a request id means one request


async def test_gateway__replay_for_other_arguments_or_tool_is_a_conflict(
    gateway,
) -> None:
    recorder = Recorder()
    session = _session(gateway, recorder)
    await _call(gateway, session, "echo", text="first")
    first = recorder.events[-1]
    await _request(gateway, session, "echo", "echo", text="second")
    await _request(gateway, session, "sleep", "echo", seconds=0)
    conflicts = recorder.events[-2:]
    assert [a.body["error"]["code"] for a in conflicts] == ["REQUEST_ID_CONFLICT"] * 2
    assert not gateway.tasks
    # The conflict replaced nothing: the first call's answer is still replayed.
    await _request(gateway, session, "echo", "echo", text="first")
    assert recorder.events[-1] == first


async def test_gateway__same_call_written_differently_is_a_replay(gateway) -> None:
    """Arguments compare as canonical JSON, names after suffix stripping."""
    recorder = Recorder()
    session = _session(gateway, recorder)
    await _request(gateway, session, "generate", "g", bytes=10, seed=3)
    while gateway.tasks:
        await next(iter(gateway.tasks))
    first = recorder.events[-1]
    assert len(first.body["outputs"][0]["text"]) == 10
    await _request(gateway, session, "generate_EXAI-WS", "g", seed=3, bytes=10)
    assert recorder.events[-1] == first and not gateway.tasks


async def test_gateway__in_flight_resend_for_other_arguments_is_a_conflict(
    gateway,
) -> None:
    recorder, other = Recorder(), Recorder()
    session, second = _session(gateway, recorder), _session(gateway, other)
    await _request(gateway, session, "sleep", "r-1", seconds=0.1)
    await _request(gateway, second, "sleep", "r-1", seconds=0.2)
    assert [type(event) for event in other.events] == [Answer]
    assert other.result("r-1")["error"]["code"] == "REQUEST_ID_CONFLICT"
    while gateway.tasks:
        await next(iter(gateway.tasks))
    # The conflicting session joined nothing: it never gets the call's answer.
    assert len(other.events) == 1
    assert recorder.result("r-1")["outputs"][0]["text"] == "slept 0.1"
