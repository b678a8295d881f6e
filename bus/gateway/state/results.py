"""The result-cache seam: request-id replay and semantic reuse of answers.

Keys always start with the agent, so one agent never receives another's
result, and every entry counts against its own agent's bound (entries and
bytes): another agent's traffic never evicts it. ``MemoryResultCache``
(``memory``) keeps them for one process, ``RedisResultCache``
(``redis_results``) for several.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from bus.protocol import digest, dumps

Body = dict[str, Any]


def replay_key(agent: str, request_id: str) -> str:
    """Return the cache key of an agent's result by request id."""
    # The braces are a Redis hash tag: all keys of one agent share a cluster slot,
    # so one script can trim them together.
    return f"ws:{{{agent}}}:r:{digest(request_id)}"


def call_fingerprint(name: str, canonical_arguments: str) -> str:
    """Return what identifies one request: its tool and canonical arguments."""
    return digest(name + chr(0) + canonical_arguments)


def semantic_key(agent: str, fingerprint: str) -> str:
    """Return the cache key of an agent's result by its call's fingerprint."""
    return f"ws:{{{agent}}}:s:{fingerprint}"


@dataclass(frozen=True, slots=True)
class Cached:
    """An answer body and the fingerprint of the call that produced it."""

    fingerprint: str
    body: Body


@dataclass(frozen=True, slots=True)
class Retention:
    """How long, and how much of one agent's answers, the cache keeps."""

    ttl: int
    max_entries: int
    max_bytes: int


def encode_cached(cached: Cached) -> bytes:
    """Serialize an entry; its length is what it counts against the byte bound."""
    return cached.fingerprint.encode() + b"\n" + dumps(cached.body).encode()


def decode_cached(data: bytes) -> Cached:
    """Parse an entry written by encode_cached."""
    fingerprint, _, body = data.partition(b"\n")
    return Cached(fingerprint=fingerprint.decode(), body=_own_json(body))


def _own_json(data: bytes) -> Any:
    # What encode_cached wrote, not a client's frame: the bad-input rules of
    # protocol.loads do not apply (a tool may return a lone surrogate, which
    # the stdlib serializer escapes and orjson then refuses to read back).
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class ResultCache(Protocol):
    """Answers by replay and semantic key, bounded per agent (entries and bytes).

    The entries of one ``store`` are never evicted by that store itself, so the
    newest answer is kept even when it alone is larger than the byte bound.
    """

    async def lookup(
        self, agent: str, replay: str, semantic: str | None
    ) -> tuple[Cached | None, Cached | None]:
        """Return the agent's entries under the replay and semantic keys."""

    async def store(
        self,
        cached: Cached,
        *,
        agent: str,
        replay: str,
        semantic: str | None,
        retention: Retention,
    ) -> None:
        """Cache an answer for replay and, with a semantic key, for reuse.

        Evict the agent's oldest entries past its bounds; store nothing when the
        TTL is 0.
        """
