"""Calls that cross workers, in one process: two gateways on one Redis, each
its own worker. A resend on the other worker joins the call (note, heartbeats,
the one answer), a cancel from it reaches every waiting session, and a session
that waits for the call of a worker that died gets an answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bus.apps import bus_app
from bus.gateway.events import Accepted, Answer, Progress
from bus.gateway.factory import batched_steps
from bus.gateway.pipeline import Gateway
from bus.gateway.registry import ToolRegistry
from bus.gateway.sessions import Agent, Session
from bus.gateway.state.hello_failures import MemoryHelloFailures
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.redis_capacity import RedisCapacity
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.redis_results import RedisResultCache
from bus.gateway.state.results import call_fingerprint, semantic_key
from bus.protocol import DUPLICATE_NOTE, CallRequest, canonical_json
from tests.bus.gateway.test_pipeline import Recorder
from tests.servers import REDIS_URL, needs_redis

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_redis,
]
# What a wait may take on a loaded machine: a bound, not a speed target.
DEADLINE_SECS = 10.0


@pytest.fixture
async def workers(ws_config, builtin_tools) -> AsyncIterator[Callable[[], Gateway]]:
    """Build gateways ("workers") sharing one Redis under this test's prefixes."""
    ws_config(WS_PROGRESS_INTERVAL_SECS=0.05, WS_CALL_TIMEOUT_SECS=3)
    tag = uuid.uuid4().hex[:8]
    client = Redis.from_url(REDIS_URL)
    built: list[Gateway] = []

    def build() -> Gateway:
        in_flight = RedisCallsInFlight(
            client, worker=f"w{len(built)}", prefix=f"t{tag}:{{inflight}}"
        )
        capacity = RedisCapacity(client, prefix=f"t{tag}:{{capacity}}")
        results = RedisResultCache(client)
        # As build_gateway does: admission and completion batched.
        admission, completion = batched_steps(
            client, results=results, in_flight=in_flight, capacity=capacity
        )
        built.append(
            Gateway(
                capacity=capacity,
                in_flight=in_flight,
                results=results,
                hello_failures=MemoryHelloFailures(),
                registry=ToolRegistry(),
                claims=bus_app().claims,
                admission=admission,
                completion=completion,
            )
        )
        return built[-1]

    yield build
    for gateway in built:
        await gateway.drain(0)
        await gateway.in_flight.aclose()
    keys = [key async for key in client.scan_iter(match=f"*{tag}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def agent_key() -> str:
    """An agent of this test alone: the result cache in Redis is keyed by agent."""
    return f"t{uuid.uuid4().hex[:8]}"


def _session(gateway: Gateway, recorder: Recorder, agent_key: str) -> Session:
    return gateway.open_session(
        agent=Agent(key=agent_key, id=None, name="test"),
        transport=recorder,
        token_hash=None,
    )


async def _send(
    gateway: Gateway, session: Session, name: str, request_id: str, **arguments: Any
) -> None:
    request = CallRequest(name=name, request_id=request_id, arguments=arguments)
    await gateway.call_tool(session, request, time.perf_counter())


async def _answered(recorder: Recorder, request_id: str) -> dict[str, Any]:
    started = time.monotonic()
    while not any(
        isinstance(e, Answer) and e.request_id == request_id for e in recorder.events
    ):
        assert time.monotonic() - started < DEADLINE_SECS, recorder.events
        await asyncio.sleep(0.02)
    return recorder.result(request_id)


async def test_joins__a_resend_on_another_worker_joins_the_call(
    workers, agent_key
) -> None:
    runner, other = workers(), workers()
    ran, joined = Recorder(), Recorder()
    await _send(runner, _session(runner, ran, agent_key), "sleep", "r", seconds=0.5)
    await _send(other, _session(other, joined, agent_key), "sleep", "r", seconds=0.5)
    answer = await _answered(joined, "r")
    assert answer == await _answered(ran, "r")
    assert answer["outputs"][0]["text"] == "slept 0.5"
    note, *rest = joined.events
    assert isinstance(note, Progress) and note.note == DUPLICATE_NOTE
    assert any(isinstance(e, Progress) and e.note is None for e in rest)
    # It ran once, on the runner: the joined worker accepted nothing.
    assert [type(e) for e in ran.events].count(Accepted) == 1
    assert not any(isinstance(e, Accepted) for e in joined.events)
    assert other.joins.waiting == {}


async def test_joins__a_cancel_from_another_worker_reaches_every_session(
    workers, agent_key
) -> None:
    runner, other = workers(), workers()
    ran, resent, cancelling = Recorder(), Recorder(), Recorder()
    await _send(runner, _session(runner, ran, agent_key), "sleep", "r", seconds=30)
    await _send(other, _session(other, resent, agent_key), "sleep", "r", seconds=30)
    assert await other.cancel(_session(other, cancelling, agent_key), "r") is True
    for recorder in (ran, resent, cancelling):
        assert (await _answered(recorder, "r"))["error"]["code"] == "CANCELLED"
    assert await other.cancel(_session(other, Recorder(), agent_key), "r") is False


async def test_joins__a_closed_session_stops_waiting(workers, agent_key) -> None:
    runner, other = workers(), workers()
    await _send(
        runner, _session(runner, Recorder(), agent_key), "sleep", "r", seconds=1
    )
    session = _session(other, Recorder(), agent_key)
    await _send(other, session, "sleep", "r", seconds=1)
    assert set(other.joins.waiting) == {(agent_key, "r")}
    await other.close_session(session)
    assert other.joins.waiting == {}


async def test_joins__a_dead_workers_call_is_answered_as_lost(
    workers, agent_key
) -> None:
    """A worker registered the call and died: nobody renews or answers it."""
    gateway = workers()
    dead = RedisCallsInFlight(
        gateway.in_flight.client, worker="dead", prefix=gateway.in_flight.prefix
    )
    fingerprint = call_fingerprint("sleep", canonical_json({"seconds": 5}))
    entry = InFlightCall(
        agent_key=agent_key,
        request_id="r",
        tool_name="sleep",
        semantic=semantic_key(agent_key, fingerprint),
        fingerprint=fingerprint,
        lease_secs=0.6,
    )
    assert await dead.begin(entry) is None
    await dead.aclose()
    waiting = Recorder()
    await _send(gateway, _session(gateway, waiting, agent_key), "sleep", "r", seconds=5)
    assert waiting.events[0].note == DUPLICATE_NOTE
    lost = (await _answered(waiting, "r"))["error"]
    assert lost["code"] == "EXEC_ERROR"
    assert lost["message"] == (
        "the worker running this call was lost; resend to run it again"
    )
    # The resend runs it again, on this worker.
    again = Recorder()
    await _send(gateway, _session(gateway, again, agent_key), "sleep", "r", seconds=5)
    assert isinstance(again.events[0], Accepted)
