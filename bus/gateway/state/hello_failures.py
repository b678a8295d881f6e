"""The failed-hello seam: hellos that failed per client address, over the last minute.

``HelloFailures`` is the interface; ``MemoryHelloFailures`` counts for one
server process and ``RedisHelloFailures`` for every process of a deployment
(a sorted set of failure times per address, trimmed to the window on every
call and expiring with it). Both sit here rather than in ``memory`` because
they are the only users of a clock.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

# PROTOCOL.md "Handshake": failures count "within the last 60 seconds"; the
# limit is a setting (WS_AUTH_FAILURES_PER_MINUTE), the window is the contract.
WINDOW_SECS = 60.0
PREFIX = "ws:hello-failures"

# KEYS: the address's failure times. ARGV: now, the window's start, a member
# unique to this failure, the window in milliseconds.
RECORD_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
"""


class HelloFailures(Protocol):
    """Where failed hellos are counted per client address, within WINDOW_SECS."""

    async def count(self, address: str) -> int:
        """Return how many hellos from the address failed within the window."""

    async def record(self, address: str) -> int:
        """Count one failed hello from the address now; return the new count."""


class MemoryHelloFailures:
    """The times of recent failed hellos per address, in this process's memory."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._swept_at = clock()

    async def count(self, address: str) -> int:
        """Return how many hellos from the address failed within the window."""
        return len(self._recent(address, self._clock()))

    async def record(self, address: str) -> int:
        """Count one failed hello from the address now; return the new count."""
        now = self._clock()
        times = self._recent(address, now)
        times.append(now)
        self._times[address] = times
        return len(times)

    def _recent(self, address: str, now: float) -> deque[float]:
        self._sweep(now)
        times = self._times.get(address, deque())
        while times and times[0] <= now - WINDOW_SECS:
            times.popleft()
        if not times:
            self._times.pop(address, None)
        return times

    def _sweep(self, now: float) -> None:
        # Addresses that stopped failing would otherwise stay forever: once per
        # window, forget every address whose newest failure has left it.
        if now - self._swept_at < WINDOW_SECS:
            return
        self._swept_at = now
        for address in [
            a for a, t in self._times.items() if t[-1] <= now - WINDOW_SECS
        ]:
            del self._times[address]


class RedisHelloFailures:
    """The times of recent failed hellos per address in Redis, deployment-wide.

    Times are the recording process's wall clock: the processes of a
    deployment keep theirs in sync (NTP), and a skew of a second moves the
    window's edge by that second at most.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._clock = clock
        self._record = client.register_script(RECORD_SCRIPT)

    async def count(self, address: str) -> int:
        """Return how many hellos from the address failed within the window."""
        start = self._clock() - WINDOW_SECS
        return int(await self.client.zcount(self._key(address), f"({start}", "+inf"))

    async def record(self, address: str) -> int:
        """Count one failed hello from the address now; return the new count."""
        now = self._clock()
        return int(
            await self._record(
                keys=[self._key(address)],
                args=[
                    repr(now),
                    repr(now - WINDOW_SECS),
                    f"{now!r}:{uuid.uuid4().hex}",
                    int(WINDOW_SECS * 1000),
                ],
            )
        )

    def _key(self, address: str) -> str:
        return f"{self.prefix}:{address}"
