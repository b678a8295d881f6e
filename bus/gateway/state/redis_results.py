"""The result cache in Redis, shared by every server process of a deployment.

Each agent has its own index: a sorted set of its entry keys in the order
they were stored, a hash of their sizes and a hash holding its byte total and
store sequence. One Lua script stores an answer and trims that agent to its
bounds atomically, so concurrent stores from several processes never leave an
agent past them. Entries expire by Redis's own TTL; the index keys live as long
as the longest-living entry. Calls go through ``redis.asyncio`` on the event
loop, one round trip per lookup and per store (or a store batched with the
other steps that end a call, ``redis_completion``).
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bus.gateway.state.redis_batch import ScriptCall
from bus.gateway.state.results import Cached, Retention, decode_cached, encode_cached

# KEYS: the agent's index (zset), sizes (hash), meta (hash: bytes, seq), then
# the one or two entry keys to store. ARGV: entry, ttl, max entries, max bytes.
# `drop` also deletes entry keys taken from the index rather than from KEYS: they
# all carry the agent's hash tag, so they sit in the same cluster slot.
STORE_SCRIPT = """
local index, sizes, meta = KEYS[1], KEYS[2], KEYS[3]
local data, ttl = ARGV[1], tonumber(ARGV[2])
local max_entries, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])

local function drop(key)
  local size = tonumber(redis.call('HGET', sizes, key) or 0)
  redis.call('DEL', key)
  redis.call('ZREM', index, key)
  redis.call('HDEL', sizes, key)
  redis.call('HINCRBY', meta, 'bytes', -size)
end

-- Entries Redis has expired, from the oldest end.
while true do
  local oldest = redis.call('ZRANGE', index, 0, 0)[1]
  if not oldest or redis.call('EXISTS', oldest) == 1 then break end
  drop(oldest)
end

local stored = #KEYS - 3
for i = 4, #KEYS do
  local key = KEYS[i]
  if redis.call('HEXISTS', sizes, key) == 1 then drop(key) end
  redis.call('SET', key, data, 'EX', ttl)
  redis.call('ZADD', index, redis.call('HINCRBY', meta, 'seq', 1), key)
  redis.call('HSET', sizes, key, #data)
  redis.call('HINCRBY', meta, 'bytes', #data)
end

-- The oldest go first; the entries of this store always stay.
while redis.call('ZCARD', index) > stored do
  local count = redis.call('ZCARD', index)
  local total = tonumber(redis.call('HGET', meta, 'bytes'))
  if count <= max_entries and total <= max_bytes then break end
  drop(redis.call('ZRANGE', index, 0, 0)[1])
end

for i = 1, 3 do
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return redis.call('ZCARD', index)
"""


def index_keys(agent: str) -> list[str]:
    """Return the keys of an agent's index: entries, sizes, meta."""
    return [f"ws:{{{agent}}}:index", f"ws:{{{agent}}}:sizes", f"ws:{{{agent}}}:meta"]


class RedisResultCache:
    """Answers in Redis, bounded per agent in entries and bytes."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._store = client.register_script(STORE_SCRIPT)

    async def lookup(
        self, agent: str, replay: str, semantic: str | None
    ) -> tuple[Cached | None, Cached | None]:
        """Return the agent's entries under the replay and semantic keys."""
        keys = [replay] if semantic is None else [replay, semantic]
        found = await self.client.mget(keys)
        replayed = decode_cached(found[0]) if found[0] is not None else None
        reused = None
        if semantic is not None and found[1] is not None:
            reused = decode_cached(found[1])
        return replayed, reused

    async def store(
        self,
        cached: Cached,
        *,
        agent: str,
        replay: str,
        semantic: str | None,
        retention: Retention,
    ) -> None:
        """Cache an answer; evict this agent's oldest entries past its bounds."""
        if retention.ttl <= 0:
            return
        keys, args = _store_arguments(cached, agent, replay, semantic, retention)
        await self._store(keys=keys, args=args)

    def store_call(
        self,
        cached: Cached,
        *,
        agent: str,
        replay: str,
        semantic: str | None,
        retention: Retention,
        failed: Callable[[RedisError], None],
    ) -> ScriptCall | None:
        """Return what `store` runs, to batch with other steps; None for no store."""
        if retention.ttl <= 0:
            return None
        keys, args = _store_arguments(cached, agent, replay, semantic, retention)
        return ScriptCall(self._store, keys, args, failed)


def _store_arguments(
    cached: Cached,
    agent: str,
    replay: str,
    semantic: str | None,
    retention: Retention,
) -> tuple[list[str], list[bytes | int]]:
    keys = [replay] if semantic is None else [semantic, replay]
    args: list[bytes | int] = [
        encode_cached(cached),
        retention.ttl,
        retention.max_entries,
        retention.max_bytes,
    ]
    return [*index_keys(agent), *keys], args
