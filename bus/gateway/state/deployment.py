"""The deployment seam: what each worker of a deployment holds, as of a second ago.

Every worker publishes a ``WorkerSnapshot`` (its sessions, the slots it holds
per scope, its running calls) about once a second under a key that expires
after ``SNAPSHOT_TTL_SECS``; readers list the live snapshots and sum them.
A worker that dies drops out when its key expires, without anyone cleaning
up. ``MemoryDeployment`` is the one process without Redis; ``RedisDeployment``
keeps the snapshots in Redis for every worker (one key per worker, plus an
index of worker ids scored by expiry, so reading needs no SCAN).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis

PREFIX = "ws:{deployment}"
# Published this often, so what a reader sums is at most this old plus one
# round trip (PROTOCOL.md "health": "as of at most 2 seconds ago").
PUBLISH_INTERVAL_SECS = 1.0
# Two missed publishes and a worker no longer counts: long enough to ride out
# a slow event loop, short enough that a dead worker's figures go quickly.
SNAPSHOT_TTL_SECS = 3.0
# The running calls a snapshot lists: enough for the admin's table, bounded so
# that a worker with thousands of calls does not publish megabytes a second
# (`calls_total` still counts them all).
MAX_PUBLISHED_CALLS = 200

# KEYS: the worker's key, the index. ARGV: worker id, snapshot JSON, TTL (ms).
PUBLISH_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""

# KEYS: the index. ARGV: the prefix of the workers' keys. Returns the live
# snapshots (a worker whose key expired between the two reads is skipped).
READ_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local found = {}
for _, worker in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local value = redis.call('GET', ARGV[1] .. ':worker:' .. worker)
  if value then table.insert(found, value) end
end
return found
"""


@dataclass(frozen=True, slots=True)
class RunningCall:
    """One call running on a worker, as the admin lists it."""

    worker: str
    agent_key: str
    agent: str
    tool: str
    provider: str
    request_id: str
    session_id: str
    started_at: float  # Unix time the call_tool frame was received


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """What one worker holds: sessions, slots per scope, running calls."""

    worker: str
    t: float  # Unix time of the snapshot
    sessions: int
    slots: int
    providers: dict[str, int] = field(default_factory=dict)
    calls: tuple[RunningCall, ...] = ()
    calls_total: int = 0

    def encode(self) -> str:
        """Return the snapshot as JSON."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> WorkerSnapshot:
        """Return the snapshot a worker published; raise ValueError if malformed."""
        try:
            fields: dict[str, Any] = json.loads(raw)
            calls = tuple(RunningCall(**call) for call in fields.pop("calls"))
            return cls(**fields, calls=calls)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"malformed worker snapshot: {exc}") from exc


class DeploymentRegistry(Protocol):
    """Where workers publish their snapshots and readers find the live ones."""

    async def publish(self, snapshot: WorkerSnapshot) -> None:
        """Replace this worker's snapshot; it counts for SNAPSHOT_TTL_SECS."""

    async def workers(self) -> list[WorkerSnapshot]:
        """Return the snapshots of the live workers, in no particular order."""

    async def withdraw(self, worker: str) -> None:
        """Stop counting a worker at once (its clean shutdown)."""


class MemoryDeployment:
    """Snapshots in this process's memory: the one process, or a test's workers."""

    def __init__(
        self,
        *,
        ttl: float = SNAPSHOT_TTL_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._clock = ttl, clock
        self._snapshots: dict[str, tuple[float, WorkerSnapshot]] = {}

    async def publish(self, snapshot: WorkerSnapshot) -> None:
        """Replace this worker's snapshot; it counts for the TTL."""
        self._snapshots[snapshot.worker] = (self._clock() + self._ttl, snapshot)

    async def workers(self) -> list[WorkerSnapshot]:
        """Return the snapshots whose TTL has not run out."""
        now = self._clock()
        for worker in [w for w, (until, _) in self._snapshots.items() if until <= now]:
            del self._snapshots[worker]
        return [snapshot for _, snapshot in self._snapshots.values()]

    async def withdraw(self, worker: str) -> None:
        """Stop counting a worker at once."""
        self._snapshots.pop(worker, None)


class RedisDeployment:
    """Snapshots in Redis, one expiring key per worker, for every worker."""

    def __init__(
        self, client: Redis, *, prefix: str = PREFIX, ttl: float = SNAPSHOT_TTL_SECS
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._ttl_ms = int(ttl * 1000)
        self._publish = client.register_script(PUBLISH_SCRIPT)
        self._read = client.register_script(READ_SCRIPT)

    async def publish(self, snapshot: WorkerSnapshot) -> None:
        """Replace this worker's snapshot; it counts for the TTL."""
        await self._publish(
            keys=[self._key(snapshot.worker), self._index()],
            args=[snapshot.worker, snapshot.encode(), self._ttl_ms],
        )

    async def workers(self) -> list[WorkerSnapshot]:
        """Return the snapshots of the live workers."""
        raw = await self._read(keys=[self._index()], args=[self.prefix])
        return [WorkerSnapshot.decode(value) for value in raw]

    async def withdraw(self, worker: str) -> None:
        """Stop counting a worker at once."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(worker))
            pipe.zrem(self._index(), worker)
            await pipe.execute()

    def _key(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    def _index(self) -> str:
        return f"{self.prefix}:workers"
