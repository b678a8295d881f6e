"""The end of an accepted call across the seams: its answer cached, its entry
ended and its slot released, in memory one after the other and in Redis in
one round trip; in Redis also after Redis lost its scripts, and with Redis
down (each step logged, nothing raised)."""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis

from bus.gateway.events import Answer
from bus.gateway.state.capacity import Limits, Slot
from bus.gateway.state.completion import Remembered
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.results import Cached, Retention, replay_key
from tests.bus.gateway import shared_state
from tests.bus.gateway.shared_state import State, redis_state

RETENTION = Retention(ttl=60, max_entries=10, max_bytes=10_000)
BODY = {"outputs": [{"type": "text", "text": "done"}], "text": "done"}


# The seams in memory and on Redis (tests.bus.gateway.shared_state).
state = shared_state.state
shared_client = shared_state.shared_client


async def _accepted(state: State, agent: str) -> tuple[InFlightCall, Slot]:
    entry = InFlightCall(agent, "r-1", "echo", None, "echo-1")
    assert await state.in_flight.begin(entry) is None
    slot = await state.capacity.acquire(
        Limits(10, "builtin", 0, "s-1", 10, retry_floor=1.0, lease_secs=30.0)
    )
    assert isinstance(slot, Slot)
    return entry, slot


def _kept(entry: InFlightCall) -> Remembered:
    return Remembered(
        cached=Cached(fingerprint=entry.fingerprint, body=BODY),
        agent=entry.agent_key,
        replay=replay_key(entry.agent_key, entry.request_id),
        semantic=None,
        retention=RETENTION,
    )


async def _assert_completed(state: State, entry: InFlightCall) -> None:
    replayed, _ = await state.results.lookup(
        entry.agent_key, replay_key(entry.agent_key, entry.request_id), None
    )
    assert replayed == Cached(fingerprint=entry.fingerprint, body=BODY)
    assert await state.in_flight.find(entry.agent_key, entry.request_id) is None
    assert await state.capacity.global_inflight() == 0


async def test_complete__caches_the_answer_ends_the_entry_frees_the_slot(
    state,
) -> None:
    entry, slot = await _accepted(state, f"a-{uuid.uuid4().hex[:8]}")

    await state.completion.complete(
        entry=entry, left=None, slot=slot, remembered=_kept(entry)
    )

    await _assert_completed(state, entry)


async def test_complete__without_an_answer_to_keep_or_a_slot(state) -> None:
    """A call refused at admission ends its entry alone."""
    entry = InFlightCall(f"a-{uuid.uuid4().hex[:8]}", "r-1", "echo", None, "echo-1")
    assert await state.in_flight.begin(entry) is None

    await state.completion.complete(entry=entry, left=None, slot=None)

    assert await state.in_flight.find(entry.agent_key, entry.request_id) is None


async def test_redis_complete__runs_the_steps_once_redis_lost_its_scripts(
    own_redis,
) -> None:
    """After a Redis restart or SCRIPT FLUSH the batched steps still all happen."""
    client = Redis.from_url(own_redis.url)
    state = redis_state(client)
    entry, slot = await _accepted(state, "a1")
    await client.script_flush()

    await state.completion.complete(
        entry=entry, left=Answer("r-1", BODY), slot=slot, remembered=_kept(entry)
    )

    await _assert_completed(state, entry)
    assert isinstance(state.in_flight, RedisCallsInFlight)
    assert await state.in_flight.answer_of(entry) == Answer("r-1", BODY)
    await state.in_flight.aclose()
    await client.aclose()


async def test_redis_complete__redis_down_logs_each_step_and_returns(
    own_redis, caplog
) -> None:
    client = Redis.from_url(
        own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    state = redis_state(client)
    entry, slot = await _accepted(state, "a1")
    own_redis.stop()

    with caplog.at_level(logging.WARNING):
        await state.completion.complete(
            entry=entry, left=None, slot=slot, remembered=_kept(entry)
        )

    messages = [record.getMessage() for record in caplog.records]
    assert "Answer of r-1 not cached" in messages
    assert "Ending call r-1 in Redis failed; its entry expires instead" in messages
    assert any(m.startswith("Releasing capacity slot") for m in messages)
    assert isinstance(state.in_flight, RedisCallsInFlight)
    await state.in_flight.aclose()
    await client.aclose()
