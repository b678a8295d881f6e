"""Agent-scoped result caches (request-id replay and semantic reuse) on Django's cache.

Keys always start with the agent, so one agent never receives another's result.
The in-process local-memory cache is called directly from the event loop (it
does no I/O); any other backend (Redis) goes through Django's async cache API.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from bus.protocol import digest

CACHE_ALIAS = "default"


def replay_key(agent: str, request_id: str) -> str:
    """Return the cache key of an agent's result by request id."""
    return f"ws:r:{agent}:{digest(request_id)}"


def semantic_key(agent: str, name: str, canonical_arguments: str) -> str:
    """Return the cache key of an agent's result by tool and canonical arguments."""
    return f"ws:s:{agent}:{digest(name + chr(0) + canonical_arguments)}"


class ResultCache:
    """Cached call_tool_res bodies (the frame without op and request_id)."""

    def __init__(self, alias: str = CACHE_ALIAS) -> None:
        self.alias = alias
        self._cache: BaseCache | None = None

    @property
    def cache(self) -> BaseCache:
        """Return the backend; looked up once (the lookup is a context-local read)."""
        if self._cache is None:
            self._cache = caches[self.alias]
        return self._cache

    async def lookup(
        self, replay: str, semantic: str | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Return the cached bodies under the replay and semantic keys."""
        cache = self.cache
        keys = [replay] if semantic is None else [replay, semantic]
        if isinstance(cache, LocMemCache):
            found = cache.get_many(keys)
        else:
            found = await cache.aget_many(keys)
        return found.get(replay), (found.get(semantic) if semantic else None)

    async def store(
        self,
        body: dict[str, Any],
        *,
        replay: str,
        semantic: str | None,
        ttl: int,
    ) -> None:
        """Cache a body for replay and, for a semantic key, for reuse."""
        if ttl <= 0:
            return
        cache = self.cache
        entries = {replay: body} if semantic is None else {replay: body, semantic: body}
        if isinstance(cache, LocMemCache):
            cache.set_many(entries, ttl)
        else:
            await cache.aset_many(entries, ttl)
