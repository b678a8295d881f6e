"""The three state seams with the admission and completion over them, in memory
and on real Redis, for the tests of steps that span the seams.

Import `state` (and `shared_client`, which it uses) into a test module to run
its tests against both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from bus.gateway.factory import batched_steps
from bus.gateway.state.admission import CallAdmission, SequentialAdmission
from bus.gateway.state.capacity import CapacityLimiter
from bus.gateway.state.completion import CallCompletion, SequentialCompletion
from bus.gateway.state.inflight import CallsInFlight
from bus.gateway.state.memory import (
    MemoryCallsInFlight,
    MemoryCapacity,
    MemoryResultCache,
)
from bus.gateway.state.memory_steps import MemorySteps
from bus.gateway.state.redis_capacity import RedisCapacity
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.redis_results import RedisResultCache
from bus.gateway.state.results import ResultCache
from tests.servers import REDIS_URL, needs_redis


@dataclass
class State:
    """The three seams and the admission and completion over them."""

    capacity: CapacityLimiter
    in_flight: CallsInFlight
    results: ResultCache
    admission: CallAdmission
    completion: CallCompletion


def memory_state() -> State:
    """Return the in-memory seams, their steps one after the other."""
    capacity, in_flight = MemoryCapacity(), MemoryCallsInFlight()
    results = MemoryResultCache()
    seams = {"results": results, "in_flight": in_flight, "capacity": capacity}
    return State(
        capacity,
        in_flight,
        results,
        SequentialAdmission(**seams),
        SequentialCompletion(**seams),
    )


def memory_steps_state() -> State:
    """Return the in-memory seams with the steps a gateway on them uses."""
    capacity, in_flight = MemoryCapacity(), MemoryCallsInFlight()
    results = MemoryResultCache()
    steps = MemorySteps(results=results, in_flight=in_flight, capacity=capacity)
    return State(capacity, in_flight, results, steps, steps)


def redis_state(client: Redis) -> State:
    """Return the Redis seams under keys of their own, batched as the factory does."""
    tag = uuid.uuid4().hex[:8]
    capacity = RedisCapacity(client, prefix=f"t{tag}:{{capacity}}")
    in_flight = RedisCallsInFlight(client, worker="w", prefix=f"t{tag}:{{inflight}}")
    results = RedisResultCache(client)
    admission, completion = batched_steps(
        client, results=results, in_flight=in_flight, capacity=capacity
    )
    return State(capacity, in_flight, results, admission, completion)


@pytest.fixture
async def shared_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL or "redis://unused")
    yield client
    await client.aclose()


@pytest.fixture(
    params=["memory", "memory-steps", pytest.param("redis", marks=needs_redis)]
)
async def state(request, shared_client) -> AsyncIterator[State]:
    if request.param == "memory":
        built = memory_state()
    elif request.param == "memory-steps":
        built = memory_steps_state()
    else:
        built = redis_state(shared_client)
    yield built
    if isinstance(built.in_flight, RedisCallsInFlight):
        await built.in_flight.aclose()
