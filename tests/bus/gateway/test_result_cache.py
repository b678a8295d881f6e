"""The result-cache seam, in memory and in Redis: agent-scoped keys, per-agent
bounds in entries and bytes, oldest evicted first, TTL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bus.gateway.factory import build_redis, build_results
from bus.gateway.state.memory import MemoryResultCache
from bus.gateway.state.redis_results import RedisResultCache, index_keys
from bus.gateway.state.results import (
    Cached,
    ResultCache,
    Retention,
    call_fingerprint,
    encode_cached,
    replay_key,
    semantic_key,
)
from tests.servers import REDIS_URL, needs_redis

DEFAULTS = Retention(ttl=600, max_entries=1000, max_bytes=16 * 1024 * 1024)


@pytest.fixture
def agents() -> list[str]:
    """Agent keys of this test alone, so Redis keys of other runs never meet them."""
    run = uuid.uuid4().hex[:8]
    return [f"t{run}-a1", f"t{run}-a2"]


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def results(request, agents) -> AsyncIterator[ResultCache]:
    """Each implementation of the seam; the Redis one on REDIS_TEST_URL."""
    if request.param == "memory":
        yield MemoryResultCache()
        return
    client = Redis.from_url(REDIS_URL)
    yield RedisResultCache(client)
    for agent in agents:
        keys = [key async for key in client.scan_iter(match=f"ws:{{{agent}}}:*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()


def answer(text: str) -> Cached:
    """Return an answer to echo with this text, as the pipeline caches it."""
    fingerprint = call_fingerprint("echo", f'{{"text":"{text}"}}')
    return Cached(fingerprint, {"outputs": [{"type": "text", "text": text}]})


async def remember(
    results: ResultCache,
    agent: str,
    request_id: str,
    cached: Cached,
    *,
    reuse: bool = False,
    retention: Retention = DEFAULTS,
) -> None:
    semantic = semantic_key(agent, cached.fingerprint) if reuse else None
    await results.store(
        cached,
        agent=agent,
        replay=replay_key(agent, request_id),
        semantic=semantic,
        retention=retention,
    )


async def replayed(results: ResultCache, agent: str, request_id: str) -> Cached | None:
    found, _ = await results.lookup(agent, replay_key(agent, request_id), None)
    return found


def test_result_cache__keys_never_cross_agents() -> None:
    fingerprint = call_fingerprint("echo", "{}")
    assert replay_key("a1", "r-1") != replay_key("a2", "r-1")
    assert semantic_key("a1", fingerprint) != semantic_key("a2", fingerprint)
    assert call_fingerprint("echo", "{}") != call_fingerprint("echo", '{"x":1}')
    assert call_fingerprint("echo", "{}") != call_fingerprint("sleep", "{}")


async def test_result_cache__finds_both_keys_of_its_agent_only(results, agents) -> None:
    mine, other = agents
    cached = answer("hi")
    await remember(results, mine, "r-1", cached, reuse=True)
    semantic = semantic_key(mine, cached.fingerprint)
    assert await results.lookup(mine, replay_key(mine, "r-1"), semantic) == (
        cached,
        cached,
    )
    other_semantic = semantic_key(other, cached.fingerprint)
    assert await results.lookup(other, replay_key(other, "r-1"), other_semantic) == (
        None,
        None,
    )


async def test_result_cache__answer_with_a_lone_surrogate_is_kept(
    results, agents
) -> None:
    """A tool may return text no UTF-8 encoder takes as is; its replay still works."""
    cached = Cached("f", {"outputs": [{"type": "text", "text": "bad \ud800 text"}]})
    await remember(results, agents[0], "r-1", cached)
    assert await replayed(results, agents[0], "r-1") == cached


async def test_result_cache__another_agents_traffic_never_evicts(
    results, agents
) -> None:
    """450 results of another agent (900 entries) leave agent A's replay intact."""
    mine, other = agents
    await remember(results, mine, "r-1", answer("mine"), reuse=True)
    for n in range(450):
        await remember(results, other, f"r-{n}", answer(f"theirs {n}"), reuse=True)
    assert await replayed(results, mine, "r-1") == answer("mine")
    assert await replayed(results, other, "r-449") == answer("theirs 449")


async def test_result_cache__another_agent_past_its_bound_evicts_only_its_own(
    results, agents
) -> None:
    mine, other = agents
    small = Retention(ttl=600, max_entries=20, max_bytes=DEFAULTS.max_bytes)
    await remember(results, mine, "r-1", answer("mine"), retention=small)
    for n in range(100):
        await remember(results, other, f"r-{n}", answer(str(n)), retention=small)
    assert await replayed(results, mine, "r-1") == answer("mine")
    assert await replayed(results, other, "r-79") is None
    assert await replayed(results, other, "r-80") == answer("80")


async def test_result_cache__own_entry_bound_evicts_own_oldest(results, agents) -> None:
    mine = agents[0]
    five = Retention(ttl=600, max_entries=5, max_bytes=DEFAULTS.max_bytes)
    for n in range(7):
        await remember(results, mine, f"r-{n}", answer(str(n)), retention=five)
    assert [await replayed(results, mine, f"r-{n}") for n in range(7)] == [
        None,
        None,
        *[answer(str(n)) for n in range(2, 7)],
    ]


async def test_result_cache__replay_and_semantic_entries_share_the_bound(
    results, agents
) -> None:
    """Each result takes two entries; with room for four, a third evicts the first."""
    mine = agents[0]
    four = Retention(ttl=600, max_entries=4, max_bytes=DEFAULTS.max_bytes)
    for n in range(3):
        await remember(
            results, mine, f"r-{n}", answer(str(n)), reuse=True, retention=four
        )
    first = answer("0")
    assert await results.lookup(
        mine, replay_key(mine, "r-0"), semantic_key(mine, first.fingerprint)
    ) == (None, None)
    assert await replayed(results, mine, "r-1") == answer("1")


async def test_result_cache__byte_bound_counts_serialized_size(results, agents) -> None:
    mine = agents[0]
    bodies = [answer(str(n) * 10_000) for n in range(5)]
    size = len(encode_cached(bodies[0]))
    three = Retention(ttl=600, max_entries=1000, max_bytes=3 * size)
    for n, body in enumerate(bodies):
        await remember(results, mine, f"r-{n}", body, retention=three)
    assert [await replayed(results, mine, f"r-{n}") for n in range(5)] == [
        None,
        None,
        *bodies[2:],
    ]


async def test_result_cache__newest_answer_stays_past_the_byte_bound(
    results, agents
) -> None:
    """An answer larger than the whole bound is still replayable; older ones go."""
    mine = agents[0]
    tiny = Retention(ttl=600, max_entries=1000, max_bytes=1000)
    await remember(results, mine, "small", answer("s"), retention=tiny)
    huge = answer("x" * 5000)
    await remember(results, mine, "huge", huge, reuse=True, retention=tiny)
    assert await results.lookup(
        mine, replay_key(mine, "huge"), semantic_key(mine, huge.fingerprint)
    ) == (huge, huge)
    assert await replayed(results, mine, "small") is None


async def test_result_cache__zero_ttl_stores_nothing(results, agents) -> None:
    off = Retention(ttl=0, max_entries=1000, max_bytes=DEFAULTS.max_bytes)
    await remember(results, agents[0], "zero-ttl", answer("x"), retention=off)
    assert await replayed(results, agents[0], "zero-ttl") is None


async def test_result_cache__memory_entries_expire_after_their_ttl(clock) -> None:
    results = MemoryResultCache(clock=clock)
    ten = Retention(ttl=10, max_entries=1000, max_bytes=DEFAULTS.max_bytes)
    await remember(results, "a1", "r-1", answer("x"), reuse=True, retention=ten)
    clock.advance(9.9)
    assert await replayed(results, "a1", "r-1") == answer("x")
    clock.advance(0.2)
    semantic = semantic_key("a1", answer("x").fingerprint)
    assert await results.lookup("a1", replay_key("a1", "r-1"), semantic) == (
        None,
        None,
    )


@needs_redis
async def test_result_cache__redis_expired_entries_leave_the_index(agents) -> None:
    """An entry Redis expired no longer counts against its agent's bounds."""
    client = Redis.from_url(REDIS_URL)
    results = RedisResultCache(client)
    mine = agents[0]
    index, sizes, meta = index_keys(mine)
    try:
        for n in range(3):
            await remember(results, mine, f"r-{n}", answer(str(n)))
        # What Redis does at the TTL: the entry's key is gone.
        await client.delete(replay_key(mine, "r-0"))
        await remember(results, mine, "r-3", answer("3"))
        members = await client.zrange(index, 0, -1)
        assert members == [replay_key(mine, f"r-{n}").encode() for n in (1, 2, 3)]
        size = len(encode_cached(answer("1")))
        assert int(await client.hget(meta, "bytes")) == 3 * size
        assert await client.hlen(sizes) == 3
    finally:
        await client.delete(
            *index_keys(mine), *(replay_key(mine, f"r-{n}") for n in range(4))
        )
        await client.aclose()


@needs_redis
async def test_result_cache__redis_entries_and_index_carry_the_ttl(agents) -> None:
    client = Redis.from_url(REDIS_URL)
    results = RedisResultCache(client)
    mine = agents[0]
    thirty = Retention(ttl=30, max_entries=1000, max_bytes=DEFAULTS.max_bytes)
    try:
        await remember(results, mine, "r-1", answer("x"), reuse=True, retention=thirty)
        keys = [
            replay_key(mine, "r-1"),
            semantic_key(mine, answer("x").fingerprint),
            *index_keys(mine),
        ]
        ttls = [await client.ttl(key) for key in keys]
        assert all(0 < ttl <= 30 for ttl in ttls), ttls
    finally:
        await client.delete(*keys)
        await client.aclose()


def test_build_results__redis_when_redis_url_is_set(ws_config) -> None:
    assert isinstance(build_results(build_redis()), MemoryResultCache)
    ws_config(REDIS_URL="redis://127.0.0.1:6379/14")
    assert isinstance(build_results(build_redis()), RedisResultCache)


async def test_build_results__a_redis_that_hangs_fails_the_lookup(ws_config) -> None:
    """A server that accepts and never answers: the lookup fails, it never hangs."""
    import asyncio

    from redis.exceptions import TimeoutError as RedisTimeout

    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ws_config(REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT_SECS=0.2)
    results = build_results(build_redis())
    try:
        with pytest.raises(RedisTimeout):
            await asyncio.wait_for(results.lookup("a1", "r", None), 30)
        assert accepted, "the client reached the silent server"
    finally:
        server.close()
        for writer in accepted:
            writer.close()
