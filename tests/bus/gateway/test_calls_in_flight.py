"""The calls-in-flight seam, in memory and in Redis: begin, end, find and the
holder of a request id or semantic key; cancels and joins reach the worker
that runs the call and its events reach the worker that joined it; and, in
Redis, one winner among racing workers and entries that expire when their
worker stops renewing them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bus.apps import bus_app
from bus.gateway.events import Answer, CallEvent, Progress
from bus.gateway.factory import build_gateway
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.memory import MemoryCallsInFlight
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from tests.servers import REDIS_URL, needs_redis

# Pub/sub delivery and lease expiry on a loaded machine: a bound, not a speed.
DEADLINE_SECS = 5.0


def _entry(request_id: str = "r-1", **overrides: Any) -> InFlightCall:
    values: dict[str, Any] = {
        "agent_key": "a1",
        "request_id": request_id,
        "tool_name": "sleep",
        "semantic": "ws:{a1}:s:sleep-1",
        "fingerprint": "sleep-1",
    }
    return InFlightCall(**{**values, **overrides})


class Heard:
    """A listener that records what reached its worker."""

    def __init__(self) -> None:
        self.cancels: list[tuple[str, str, str]] = []
        self.joins: list[tuple[str, str, str]] = []
        self.events: list[tuple[str, CallEvent]] = []

    def cancel_here(self, agent_key: str, request_id: str, reason: str) -> None:
        self.cancels.append((agent_key, request_id, reason))

    def join_here(self, agent_key: str, request_id: str, worker: str) -> None:
        self.joins.append((agent_key, request_id, worker))

    async def relayed(self, agent_key: str, event: CallEvent) -> None:
        self.events.append((agent_key, event))


async def _until(condition: Callable[[], Any]) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < DEADLINE_SECS
        await asyncio.sleep(0.02)


@pytest.fixture
async def redis_workers() -> AsyncIterator[Callable[[], RedisCallsInFlight]]:
    """Build RedisCallsInFlight instances ("workers") on one prefix of this test."""
    prefix = f"t{uuid.uuid4().hex[:8]}:{{inflight}}"
    client = Redis.from_url(REDIS_URL or "redis://unused")
    built: list[RedisCallsInFlight] = []

    def build() -> RedisCallsInFlight:
        worker = f"worker-{len(built)}"
        built.append(RedisCallsInFlight(client, worker=worker, prefix=prefix))
        return built[-1]

    yield build
    if not built:
        return
    for in_flight in built:
        await in_flight.aclose()
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def workers(request, redis_workers) -> Callable[[], CallsInFlight]:
    """Build workers of each implementation; in memory, all are one process."""
    if request.param == "memory":
        shared = MemoryCallsInFlight(worker="alone")
        return lambda: shared
    return redis_workers


async def test_calls_in_flight__begin_find_end(workers) -> None:
    in_flight = workers()
    entry = _entry()
    assert await in_flight.begin(entry) is None
    found = await in_flight.find("a1", "r-1")
    assert (found.request_id, found.fingerprint) == ("r-1", "sleep-1")
    assert found.worker == in_flight.worker and found.entry_id == entry.entry_id
    assert await in_flight.find("a2", "r-1") is None
    assert await in_flight.count() == 1
    await in_flight.end(entry)
    await in_flight.end(entry)
    assert await in_flight.find("a1", "r-1") is None
    assert await in_flight.count() == 0


async def test_calls_in_flight__a_request_id_has_one_holder_whatever_it_asks(
    workers,
) -> None:
    """The holder comes back with its fingerprint: the pipeline tells a resend
    for other arguments (REQUEST_ID_CONFLICT) from a real resend."""
    one, two = workers(), workers()
    assert await one.begin(_entry()) is None
    holder = await two.begin(_entry(semantic=None, fingerprint="echo-2"))
    assert holder is not None
    assert (holder.request_id, holder.fingerprint) == ("r-1", "sleep-1")
    assert holder.worker == one.worker


async def test_calls_in_flight__the_semantic_key_has_one_holder(workers) -> None:
    one, two = workers(), workers()
    first = _entry("r-1")
    assert await one.begin(first) is None
    holder = await two.begin(_entry("r-2"))
    assert holder is not None and holder.request_id == "r-1"
    assert await two.find("a1", "r-2") is None
    # A tool with side effects has no semantic key: never coalesced.
    assert await two.begin(_entry("r-3", semantic=None)) is None
    await one.end(first)
    assert await two.begin(_entry("r-2")) is None


async def test_calls_in_flight__an_end_removes_only_its_own_entry(workers) -> None:
    one, two = workers(), workers()
    old = _entry()
    assert await one.begin(old) is None
    await one.end(old)
    new = _entry()
    assert await two.begin(new) is None
    await one.end(old)
    found = await one.find("a1", "r-1")
    assert found is not None and found.entry_id == new.entry_id
    assert (await one.begin(_entry("r-9"))).request_id == "r-1"


async def test_calls_in_flight__cancel_reaches_the_worker_that_runs_the_call(
    workers,
) -> None:
    runner, other = workers(), workers()
    heard_runner, heard_other = Heard(), Heard()
    runner.listen(heard_runner)
    if other is not runner:
        other.listen(heard_other)
    assert await other.cancel("a1", "r-1", "nothing runs") is False
    assert await runner.begin(_entry()) is None
    assert await other.cancel("a1", "r-1", "cancelled by the client") is True
    await _until(lambda: heard_runner.cancels)
    assert heard_runner.cancels == [("a1", "r-1", "cancelled by the client")]
    assert heard_other.cancels == []


async def test_calls_in_flight__a_joined_call_relays_its_events_to_the_joiner(
    workers,
) -> None:
    runner, joiner = workers(), workers()
    heard_runner, heard_joiner = Heard(), Heard()
    runner.listen(heard_runner)
    if joiner is not runner:
        joiner.listen(heard_joiner)
    else:
        heard_joiner = heard_runner
    assert await runner.begin(_entry()) is None
    held = await joiner.find("a1", "r-1")
    await joiner.join(held)
    await _until(lambda: heard_runner.joins)
    assert heard_runner.joins == [("a1", "r-1", joiner.worker)]
    beat = Progress("r-1", "sleep", 1.5, None)
    answer = Answer("r-1", {"outputs": [{"type": "text", "text": "slept 1"}]})
    await runner.relay(joiner.worker, "a1", beat)
    await runner.relay(joiner.worker, "a1", answer)
    await _until(lambda: len(heard_joiner.events) == 2)
    assert heard_joiner.events == [("a1", beat), ("a1", answer)]


@needs_redis
async def test_redis_calls_in_flight__50_concurrent_begins_have_one_winner(
    redis_workers,
) -> None:
    workers = [redis_workers() for _ in range(5)]
    outcomes = await asyncio.gather(
        *(workers[n % 5].begin(_entry(semantic=None)) for n in range(50))
    )
    assert outcomes.count(None) == 1
    winner = next(w for n, w in enumerate(workers * 10) if outcomes[n] is None)
    holders = {(o.entry_id, o.worker) for o in outcomes if o is not None}
    assert len(holders) == 1 and holders.pop()[1] == winner.worker
    assert await workers[0].count() == 1


@needs_redis
async def test_redis_calls_in_flight__an_entry_not_renewed_expires(
    redis_workers,
) -> None:
    dead, alive = redis_workers(), redis_workers()
    assert await dead.begin(_entry(lease_secs=0.5)) is None
    # The worker dies: nothing renews or ends its entries any more.
    await dead.aclose()
    assert await alive.find("a1", "r-1") is not None
    started = time.monotonic()
    while await alive.find("a1", "r-1") is not None:
        assert time.monotonic() - started < DEADLINE_SECS
        await asyncio.sleep(0.05)
    assert await alive.count() == 0
    assert await alive.begin(_entry()) is None


@needs_redis
async def test_redis_calls_in_flight__a_renewed_entry_outlives_its_lease(
    redis_workers,
) -> None:
    holder, other = redis_workers(), redis_workers()
    entry = _entry(lease_secs=0.3)
    assert await holder.begin(entry) is None
    await asyncio.sleep(1.2)
    assert (await other.begin(_entry("r-2"))).request_id == "r-1"
    assert await other.count() == 1
    await holder.end(entry)
    assert await other.find("a1", "r-1") is None


@needs_redis
async def test_redis_calls_in_flight__a_cancel_the_runner_missed_reaches_it(
    redis_workers,
) -> None:
    """A runner that was not subscribed (reconnecting) finds the cancel when it
    renews its entries."""
    runner, other = redis_workers(), redis_workers()
    heard = Heard()
    runner.listen(heard)
    assert await runner.begin(_entry(lease_secs=0.3)) is None
    await runner.channel._pubsub.unsubscribe(runner.channel.name(runner.worker))
    assert await other.cancel("a1", "r-1", "cancelled by the client") is True
    await _until(lambda: heard.cancels)
    assert heard.cancels[0] == ("a1", "r-1", "cancelled by the client")


def test_build_gateway__calls_in_flight_in_redis_when_redis_url_is_set(
    ws_config,
) -> None:
    ws_config(REDIS_URL="")
    assert isinstance(
        build_gateway(claims=bus_app().claims).in_flight, MemoryCallsInFlight
    )
    ws_config(REDIS_URL="redis://127.0.0.1:6379/14")
    shared = build_gateway(claims=bus_app().claims)
    assert isinstance(shared.in_flight, RedisCallsInFlight)
