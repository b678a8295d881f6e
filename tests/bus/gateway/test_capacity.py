"""The capacity seam, in memory and in Redis: scopes in order, release, retry
estimates, rejections, snapshot; and, in Redis, limits shared by processes and
slots held as leases that expire unless their holder refreshes them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bus.apps import bus_app
from bus.gateway.factory import build_gateway
from bus.gateway.state.capacity import CapacityLimiter, Limits, Rejection, Slot
from bus.gateway.state.hello_failures import MemoryHelloFailures, RedisHelloFailures
from bus.gateway.state.memory import MemoryCapacity
from bus.gateway.state.redis_capacity import RedisCapacity
from tests.servers import REDIS_URL, needs_redis

EXPIRY_DEADLINE_SECS = 5.0


def _limits(**overrides: Any) -> Limits:
    values = {
        "global_max": 2,
        "provider": "p",
        "provider_max": 0,
        "session_id": "s",
        "session_max": 2,
        "retry_floor": 0.5,
        "lease_secs": 30.0,
    }
    return Limits(**{**values, **overrides})


@pytest.fixture
async def redis_limiters() -> AsyncIterator[Callable[[], RedisCapacity]]:
    """Build RedisCapacity instances ("processes") on one prefix of this test."""
    prefix = f"t{uuid.uuid4().hex[:8]}:{{capacity}}"
    client = Redis.from_url(REDIS_URL or "redis://unused")
    built: list[RedisCapacity] = []

    def build() -> RedisCapacity:
        built.append(RedisCapacity(client, prefix=prefix))
        return built[-1]

    yield build
    if not built:
        return
    for limiter in built:
        for slot in list(limiter._held.values()):
            await limiter.release(slot)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def limiter(request, redis_limiters) -> CapacityLimiter:
    """Each implementation of the seam; the Redis one on REDIS_TEST_URL."""
    if request.param == "memory":
        return MemoryCapacity()
    return redis_limiters()


async def test_capacity__checks_global_then_provider_then_session(limiter) -> None:
    first = await limiter.acquire(_limits(global_max=1, provider_max=1, session_max=1))
    assert isinstance(first, Slot)
    full = await limiter.acquire(_limits(global_max=1, provider_max=1, session_max=1))
    assert full == Rejection("global", 0.5)
    provider = await limiter.acquire(_limits(provider_max=1, session_max=1))
    assert isinstance(provider, Rejection) and provider.scope == "provider"
    session = await limiter.acquire(_limits(provider="q", session_max=1))
    assert isinstance(session, Rejection) and session.scope == "session"
    other_session = await limiter.acquire(_limits(provider="q", session_id="t"))
    assert isinstance(other_session, Slot)
    assert await limiter.global_inflight() == 2


async def test_capacity__provider_limit_zero_means_none_of_its_own(limiter) -> None:
    for session in ("s1", "s2", "s3"):
        slot = await limiter.acquire(_limits(global_max=3, session_id=session))
        assert isinstance(slot, Slot)


async def test_capacity__release_is_idempotent_and_records_rejections(limiter) -> None:
    slot = await limiter.acquire(_limits(global_max=1))
    await limiter.acquire(_limits(global_max=1))
    await limiter.release(slot)
    await limiter.release(slot)
    assert await limiter.global_inflight() == 0
    again = await limiter.acquire(_limits(global_max=1))
    assert isinstance(again, Slot)
    await limiter.acquire(_limits(global_max=1, session_id="t"))
    snapshot = await limiter.snapshot(
        global_max=1, provider_limits={"p": 0}, session_max=2, session_ids=["s"]
    )
    assert snapshot.global_usage.used == 1
    assert [(r.scope, r.session_id) for r in snapshot.rejections] == [
        ("global", "t"),
        ("global", "s"),
    ]
    assert all(abs(r.at - time.time()) < 5 for r in snapshot.rejections)


async def test_capacity__retry_after_is_the_floor_without_history(limiter) -> None:
    await limiter.acquire(_limits(global_max=1))
    full = await limiter.acquire(_limits(global_max=1, retry_floor=2.5))
    assert full == Rejection("global", 2.5)


async def test_capacity__retry_after_follows_recent_durations(limiter) -> None:
    slot = await limiter.acquire(_limits(global_max=1))
    await asyncio.sleep(0.6)
    await limiter.release(slot)
    await limiter.acquire(_limits(global_max=1))
    full = await limiter.acquire(_limits(global_max=1, retry_floor=0.1))
    # The oldest call started just now and calls here take about 0.6 s.
    assert isinstance(full, Rejection) and 0.4 < full.retry_after <= 0.7
    floored = await limiter.acquire(_limits(global_max=1, retry_floor=3))
    assert floored == Rejection("global", 3)


async def test_capacity__snapshot_shows_every_scope(limiter) -> None:
    await limiter.acquire(_limits(global_max=5, provider="p", session_id="s"))
    await limiter.acquire(_limits(global_max=5, provider="p", session_id="t"))
    await limiter.acquire(_limits(global_max=5, provider="q", session_id="t"))
    released = await limiter.acquire(_limits(global_max=5, provider="r"))
    await limiter.release(released)
    snapshot = await limiter.snapshot(
        global_max=5,
        provider_limits={"p": 4, "z": 1},
        session_max=2,
        session_ids=["s", "u"],
    )
    assert (snapshot.global_usage.used, snapshot.global_usage.available) == (3, 5)
    assert [(u.name, u.used, u.available) for u in snapshot.providers] == [
        ("p", 2, 4),
        ("q", 1, 0),
        ("z", 0, 1),
    ]
    assert [(u.name, u.used, u.available) for u in snapshot.sessions] == [
        ("s", 1, 2),
        ("t", 2, 2),
        ("u", 0, 2),
    ]
    assert snapshot.rejections == []


@needs_redis
async def test_redis_capacity__50_concurrent_acquires_get_exactly_the_limit(
    redis_limiters,
) -> None:
    limiters = [redis_limiters() for _ in range(5)]
    outcomes = await asyncio.gather(
        *(
            limiters[n % 5].acquire(_limits(global_max=10, session_id=f"s{n}"))
            for n in range(50)
        )
    )
    slots = [o for o in outcomes if isinstance(o, Slot)]
    assert len(slots) == 10
    assert {o.scope for o in outcomes if isinstance(o, Rejection)} == {"global"}
    assert await limiters[0].global_inflight() == 10


@needs_redis
async def test_redis_capacity__two_processes_share_every_scope(redis_limiters) -> None:
    one, two = redis_limiters(), redis_limiters()
    limits = _limits(global_max=3, provider_max=2, session_max=1)
    assert isinstance(await one.acquire(limits), Slot)
    assert (await two.acquire(limits)).scope == "session"
    assert isinstance(await two.acquire(_limits(provider_max=2, session_id="t")), Slot)
    third = await one.acquire(_limits(global_max=3, provider_max=2, session_id="u"))
    assert isinstance(third, Rejection) and third.scope == "provider"
    held = await two.acquire(_limits(global_max=3, provider="q", session_id="u"))
    assert (await one.acquire(_limits(global_max=3, provider="q"))).scope == "global"
    await two.release(held)
    assert isinstance(await one.acquire(_limits(global_max=3, provider="q")), Slot)
    snapshot = await two.snapshot(
        global_max=3, provider_limits={}, session_max=1, session_ids=[]
    )
    assert snapshot.global_usage.used == 3
    assert [r.scope for r in snapshot.rejections] == ["global", "provider", "session"]


async def _wait_for_inflight(limiter: RedisCapacity, expected: int) -> float:
    started = time.monotonic()
    while await limiter.global_inflight() != expected:
        assert time.monotonic() - started < EXPIRY_DEADLINE_SECS
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@needs_redis
async def test_redis_capacity__a_lease_not_refreshed_frees_its_slot(
    redis_limiters,
) -> None:
    dead, alive = redis_limiters(), redis_limiters()
    limits = _limits(global_max=1, lease_secs=0.5)
    slot = await dead.acquire(limits)
    assert isinstance(slot, Slot)
    # The holder dies: its refresher stops and its slots are never released.
    dead._refresher.cancel()
    dead._held.clear()
    assert isinstance(await alive.acquire(_limits(global_max=1)), Rejection)
    await _wait_for_inflight(alive, 0)
    assert isinstance(await alive.acquire(_limits(global_max=1, session_id="t")), Slot)


@needs_redis
async def test_redis_capacity__a_refreshed_lease_outlives_its_length(
    redis_limiters,
) -> None:
    holder, other = redis_limiters(), redis_limiters()
    slot = await holder.acquire(_limits(global_max=1, lease_secs=0.3))
    assert isinstance(slot, Slot)
    await asyncio.sleep(1.2)
    assert await other.global_inflight() == 1
    assert isinstance(await other.acquire(_limits(global_max=1)), Rejection)
    await holder.release(slot)
    assert await other.global_inflight() == 0


class _Proxy:
    """A TCP proxy to Redis that can be cut, as a network partition would."""

    def __init__(self, target: str) -> None:
        self.host, port = target.split("//")[1].split("/")[0].split(":")
        self.target_port = int(port)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        upstream_reader, upstream = await asyncio.open_connection(
            self.host, self.target_port
        )
        self.writers += [writer, upstream]

        async def pipe(source, sink) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()

        await asyncio.gather(
            pipe(reader, upstream),
            pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@needs_redis
async def test_redis_capacity__release_without_redis_leaves_the_lease_to_expire(
    redis_limiters, caplog
) -> None:
    observer = redis_limiters()
    proxy = _Proxy(REDIS_URL)
    port = await proxy.start()
    db = REDIS_URL.rsplit("/", 1)[1]
    client = Redis.from_url(
        f"redis://127.0.0.1:{port}/{db}", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    holder = RedisCapacity(client, prefix=observer.prefix)
    slot = await holder.acquire(_limits(global_max=1, lease_secs=0.6))
    assert isinstance(slot, Slot)
    await proxy.cut()
    await holder.release(slot)
    assert "its lease runs out instead" in caplog.text
    await _wait_for_inflight(observer, 0)
    await client.aclose()


def test_build_gateway__limits_and_failed_hellos_in_redis_when_redis_url_is_set(
    ws_config,
) -> None:
    ws_config(REDIS_URL="")
    alone = build_gateway(claims=bus_app().claims)
    assert isinstance(alone.capacity, MemoryCapacity)
    assert isinstance(alone.hello_failures, MemoryHelloFailures)
    ws_config(REDIS_URL="redis://127.0.0.1:6379/14")
    shared = build_gateway(claims=bus_app().claims)
    assert isinstance(shared.capacity, RedisCapacity)
    assert isinstance(shared.hello_failures, RedisHelloFailures)
