"""The result-cache seam: request-id replay and semantic reuse of answers.

Keys always start with the agent, so one agent never receives another's
result. ``CacheResults`` keeps them in a Django cache: the in-process
local-memory cache for one process (called directly from the event loop,
it does no I/O), Redis for several (through Django's async cache API).
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from bus.protocol import digest

CACHE_ALIAS = "default"

Body = dict[str, Any]


def replay_key(agent: str, request_id: str) -> str:
    """Return the cache key of an agent's result by request id."""
    return f"ws:r:{agent}:{digest(request_id)}"


def semantic_key(agent: str, name: str, canonical_arguments: str) -> str:
    """Return the cache key of an agent's result by tool and canonical arguments."""
    return f"ws:s:{agent}:{digest(name + chr(0) + canonical_arguments)}"


class ResultCache(Protocol):
    """Answer bodies (the result without request id), by replay and semantic key."""

    async def lookup(
        self, replay: str, semantic: str | None
    ) -> tuple[Body | None, Body | None]:
        """Return the bodies cached under the replay and semantic keys."""

    async def store(
        self, body: Body, *, replay: str, semantic: str | None, ttl: int
    ) -> None:
        """Cache a body for replay and, with a semantic key, for reuse."""


class CacheResults:
    """A ResultCache on one of Django's caches."""

    def __init__(self, cache: BaseCache | None = None) -> None:
        self.cache = cache if cache is not None else caches[CACHE_ALIAS]
        self.in_memory = isinstance(self.cache, LocMemCache)

    async def lookup(
        self, replay: str, semantic: str | None
    ) -> tuple[Body | None, Body | None]:
        """Return the bodies cached under the replay and semantic keys."""
        keys = [replay] if semantic is None else [replay, semantic]
        if self.in_memory:
            found = self.cache.get_many(keys)
        else:
            found = await self.cache.aget_many(keys)
        return found.get(replay), (found.get(semantic) if semantic else None)

    async def store(
        self, body: Body, *, replay: str, semantic: str | None, ttl: int
    ) -> None:
        """Cache a body for replay and, with a semantic key, for reuse."""
        if ttl <= 0:
            return
        entries = {replay: body} if semantic is None else {replay: body, semantic: body}
        if self.in_memory:
            self.cache.set_many(entries, ttl)
        else:
            await self.cache.aset_many(entries, ttl)
