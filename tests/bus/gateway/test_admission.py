"""Steps 3 to 7 across the seams, in memory one after the other and in Redis
as one command: a cached answer stops before registering, a holder stops
before acquiring, a rejection or no limits leave the call registered; in
Redis a lost reply leaves nothing behind once Redis answers again."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bus.gateway.state.admission import Admission, SequentialAdmission
from bus.gateway.state.capacity import Limits, Rejection, Slot
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.memory import (
    MemoryCallsInFlight,
    MemoryCapacity,
    MemoryResultCache,
)
from bus.gateway.state.memory_steps import MemorySteps, admission_for, completion_for
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.results import (
    Cached,
    Retention,
    replay_key,
    semantic_key,
)
from bus.protocol import Scope
from tests.bus.gateway import shared_state
from tests.bus.gateway.shared_state import State, redis_state

RETENTION = Retention(ttl=60, max_entries=10, max_bytes=10_000)
ANSWER = Cached(fingerprint="echo-1", body={"text": "done"})


# The seams in memory and on Redis (tests.bus.gateway.shared_state).
state = shared_state.state
shared_client = shared_state.shared_client


def _entry(agent: str, request_id: str = "r-1") -> InFlightCall:
    return InFlightCall(
        agent, request_id, "echo", semantic_key(agent, "echo-1"), "echo-1"
    )


def _limits(global_max: int = 10) -> Limits:
    return Limits(global_max, "builtin", 0, "s-1", 10, retry_floor=1.0, lease_secs=30.0)


async def _admit(
    state: State, entry: InFlightCall, limits: Limits | None = None
) -> Admission:
    return await state.admission.admit(
        entry,
        replay=replay_key(entry.agent_key, entry.request_id),
        semantic=entry.semantic,
        limits=limits,
    )


@pytest.fixture
def agent() -> str:
    return f"a-{uuid.uuid4().hex[:8]}"


async def test_admit__registers_and_takes_a_slot(state, agent) -> None:
    entry = _entry(agent)

    admission = await _admit(state, entry, _limits())

    assert isinstance(admission.outcome, Slot)
    assert admission.replayed is admission.cached is admission.holder is None
    assert await state.in_flight.find(agent, "r-1") is not None
    assert await state.capacity.global_inflight() == 1
    await state.capacity.release(admission.outcome)


@pytest.mark.parametrize("by", ["replay", "semantic"])
async def test_admit__a_cached_answer_stops_before_registering(
    state, agent, by
) -> None:
    entry = _entry(agent)
    await state.results.store(
        ANSWER,
        agent=agent,
        replay=replay_key(agent, "r-1" if by == "replay" else "other"),
        semantic=entry.semantic if by == "semantic" else None,
        retention=RETENTION,
    )

    admission = await _admit(state, entry, _limits())

    found = admission.replayed if by == "replay" else admission.cached
    assert found == ANSWER
    assert admission.outcome is None
    assert await state.in_flight.find(agent, "r-1") is None
    assert await state.capacity.global_inflight() == 0


async def test_admit__a_holder_stops_before_acquiring(state, agent) -> None:
    running = _entry(agent, "r-running")
    assert await state.in_flight.begin(running) is None

    admission = await _admit(state, _entry(agent, "r-duplicate"), _limits())

    assert admission.holder is not None
    assert admission.holder.entry_id == running.entry_id
    assert await state.in_flight.find(agent, "r-duplicate") is None
    assert await state.capacity.global_inflight() == 0


async def test_admit__a_rejection_leaves_the_call_registered(state, agent) -> None:
    """The caller ends it, as it ends every call (CallCompletion)."""
    first = await _admit(state, _entry(agent, "r-first"), _limits(global_max=1))
    assert isinstance(first.outcome, Slot)
    other = InFlightCall(agent, "r-second", "echo", None, "echo-2")

    admission = await _admit(state, other, _limits(global_max=1))

    assert isinstance(admission.outcome, Rejection)
    assert admission.outcome.scope == Scope.GLOBAL
    assert await state.in_flight.find(agent, "r-second") is not None
    await state.in_flight.end(other)
    await state.capacity.release(first.outcome)


async def test_admit__without_limits_registers_only(state, agent) -> None:
    """While draining: steps 3 to 6 still run, no slot is taken."""
    admission = await _admit(state, _entry(agent), None)

    assert admission == Admission()
    assert await state.in_flight.find(agent, "r-1") is not None
    assert await state.capacity.global_inflight() == 0


async def test_redis_admit__redis_down_raises_and_leaves_nothing_once_back(
    own_redis,
) -> None:
    client = Redis.from_url(
        own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    state = redis_state(client)
    own_redis.stop()

    # Two at once: one pipeline, and each caller gets the outage.
    failed = await asyncio.gather(
        _admit(state, _entry("a1"), _limits()),
        _admit(state, _entry("a1", "r-2"), _limits()),
        return_exceptions=True,
    )

    assert all(isinstance(error, RedisError) for error in failed)
    own_redis.start()
    assert await state.in_flight.find("a1", "r-1") is None
    assert await state.in_flight.find("a1", "r-2") is None
    admission = await _admit(state, _entry("a1"), _limits())
    assert isinstance(admission.outcome, Slot)
    assert isinstance(state.in_flight, RedisCallsInFlight)
    await state.in_flight.aclose()
    await client.aclose()


async def test_admit__concurrent_calls_share_the_last_slots_exactly(
    state, agent
) -> None:
    """Admissions issued together (one Redis pipeline) never pass the limit."""
    entries = [
        InFlightCall(agent, f"r-{n}", "echo", None, f"echo-{n}") for n in range(20)
    ]

    admissions = await asyncio.gather(
        *(_admit(state, entry, _limits(global_max=10)) for entry in entries)
    )

    slots = [a.outcome for a in admissions if isinstance(a.outcome, Slot)]
    rejected = [a for a in admissions if isinstance(a.outcome, Rejection)]
    assert (len(slots), len(rejected)) == (10, 10)
    assert await state.capacity.global_inflight() == 10
    for slot in slots:
        await state.capacity.release(slot)
    for entry in entries:
        await state.in_flight.end(entry)


class SlowCapacity(MemoryCapacity):
    """A capacity whose own async acquire must be the one that runs."""

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        await asyncio.sleep(0)
        return Rejection(Scope.GLOBAL, 7.0)


async def test_admission_for__memory_steps_only_on_the_memory_seams_themselves(
    agent,
) -> None:
    seams = {"results": MemoryResultCache(), "in_flight": MemoryCallsInFlight()}
    plain = admission_for(**seams, capacity=MemoryCapacity())
    assert isinstance(plain, MemorySteps)
    assert isinstance(completion_for(**seams, capacity=MemoryCapacity()), MemorySteps)
    wrapped = admission_for(**seams, capacity=SlowCapacity())
    assert isinstance(wrapped, SequentialAdmission)
    admission = await wrapped.admit(
        _entry(agent), replay="r", semantic=None, limits=_limits()
    )
    assert admission.outcome == Rejection(Scope.GLOBAL, 7.0)
