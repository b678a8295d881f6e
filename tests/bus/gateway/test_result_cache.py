"""The result-cache seam on Django's caches: agent-scoped keys, Redis too."""

import os

import pytest

from bus.gateway.state.results import CacheResults, replay_key, semantic_key


async def test_result_cache__keys_never_cross_agents() -> None:
    assert replay_key("a1", "r-1") != replay_key("a2", "r-1")
    assert semantic_key("a1", "echo", "{}") != semantic_key("a2", "echo", "{}")
    assert semantic_key("a1", "echo", "{}") != semantic_key("a1", "echo", '{"x":1}')


async def test_result_cache__zero_ttl_stores_nothing() -> None:
    results = CacheResults()
    replay = replay_key("a1", "zero-ttl")
    await results.store({"outputs": []}, replay=replay, semantic=None, ttl=0)
    assert await results.lookup(replay, None) == (None, None)


@pytest.mark.skipif(
    not os.environ.get("REDIS_TEST_URL"), reason="needs REDIS_TEST_URL (make test)"
)
async def test_result_cache__works_on_redis() -> None:
    """The caches use Django's async cache API on Redis, keyed by agent."""
    from django.core.cache.backends.redis import RedisCache

    results = CacheResults(RedisCache(os.environ["REDIS_TEST_URL"], {}))
    replay, semantic = replay_key("a1", "r-1"), semantic_key("a1", "echo", "{}")
    await results.store({"outputs": []}, replay=replay, semantic=semantic, ttl=5)
    assert await results.lookup(replay, semantic) == ({"outputs": []}, {"outputs": []})
    other = replay_key("a2", "r-1")
    assert await results.lookup(other, None) == (None, None)
    await results.cache.adelete_many([replay, semantic])
