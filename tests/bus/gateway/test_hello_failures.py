"""The failed-hello seam, in memory and in Redis: a sliding one-minute window per
address, on a fake clock; in Redis, one count for every process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from bus.gateway.state.hello_failures import (
    WINDOW_SECS,
    HelloFailures,
    MemoryHelloFailures,
    RedisHelloFailures,
)
from tests.bus.conftest import FakeClock
from tests.servers import REDIS_URL, needs_redis


@pytest.fixture
async def redis_failures() -> AsyncIterator[Callable[[FakeClock], RedisHelloFailures]]:
    """Build RedisHelloFailures instances ("processes") on one prefix of this test."""
    prefix = f"t{uuid.uuid4().hex[:8]}:hello-failures"
    client = Redis.from_url(REDIS_URL or "redis://unused")
    built: list[RedisHelloFailures] = []

    def build(clock: FakeClock) -> RedisHelloFailures:
        built.append(RedisHelloFailures(client, prefix=prefix, clock=clock))
        return built[-1]

    yield build
    if not built:
        return
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    """The clock the failures are counted on."""
    return FakeClock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def failures(request, clock, redis_failures) -> HelloFailures:
    """Each implementation of the seam; the Redis one on REDIS_TEST_URL."""
    if request.param == "memory":
        return MemoryHelloFailures(clock=clock)
    return redis_failures(clock)


async def test_hello_failures__count_per_address_within_the_window(failures) -> None:
    assert await failures.record("192.0.2.1") == 1
    assert await failures.record("192.0.2.1") == 2
    assert await failures.record("192.0.2.2") == 1
    assert await failures.count("192.0.2.1") == 2
    assert await failures.count("192.0.2.3") == 0


async def test_hello_failures__leave_the_window_one_by_one(failures, clock) -> None:
    await failures.record("192.0.2.1")
    clock.advance(30)
    await failures.record("192.0.2.1")
    clock.advance(WINDOW_SECS - 30 - 0.001)
    assert await failures.count("192.0.2.1") == 2
    clock.advance(0.001)
    assert await failures.count("192.0.2.1") == 1
    clock.advance(30)
    assert await failures.count("192.0.2.1") == 0


async def test_hello_failures__an_address_that_stopped_failing_starts_from_zero(
    failures, clock
) -> None:
    for _ in range(5):
        await failures.record("192.0.2.1")
    clock.advance(WINDOW_SECS * 3)
    assert await failures.record("192.0.2.2") == 1
    assert await failures.record("192.0.2.1") == 1


async def test_hello_failures__failures_at_the_same_instant_all_count(
    failures,
) -> None:
    for expected in range(1, 4):
        assert await failures.record("192.0.2.1") == expected


@needs_redis
async def test_redis_hello_failures__every_process_counts_the_same_failures(
    redis_failures, clock
) -> None:
    one, two = redis_failures(clock), redis_failures(clock)
    assert await one.record("192.0.2.1") == 1
    assert await two.record("192.0.2.1") == 2
    assert await one.count("192.0.2.1") == 2
    clock.advance(WINDOW_SECS)
    assert await two.count("192.0.2.1") == 0


@needs_redis
async def test_redis_hello_failures__an_address_key_expires_with_the_window(
    redis_failures, clock
) -> None:
    failures = redis_failures(clock)
    await failures.record("192.0.2.1")
    ttl = await failures.client.pttl(f"{failures.prefix}:192.0.2.1")
    assert 0 < ttl <= WINDOW_SECS * 1000
