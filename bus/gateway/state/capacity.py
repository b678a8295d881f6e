"""The capacity seam: concurrency limits (global, provider, session).

``CapacityLimiter`` is the interface; ``memory.MemoryCapacity`` enforces the
limits for one server process, and a cross-process implementation (several
workers, ``redis_capacity.RedisCapacity``) provides the same coroutines.
Acquiring never waits: a full scope is answered at once with the scope and a
``retry_after`` estimated from recent call durations there.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bus.protocol import Scope

# PROTOCOL.md "Limits": a process that dies releases its slots within
# WS_CALL_TIMEOUT_SECS, or this many seconds if that is shorter.
MAX_LEASE_SECS = 30.0


def lease_secs(call_timeout: float) -> float:
    """Return how long a slot outlives its holder's last sign of life."""
    return min(call_timeout, MAX_LEASE_SECS)


# Not frozen: built once per call, and frozen fields cost a setattr call each
# (metrics.CallRecord). Nothing changes one.
@dataclass(slots=True)
class Limits:
    """The limits that apply to one call, read from configuration at call time."""

    global_max: int
    provider: str
    provider_max: int
    session_id: str
    session_max: int
    retry_floor: float
    lease_secs: float
    # Who asks, for the record of a rejection (the admin's recent rejections).
    agent: str = ""
    tool: str = ""


def random_id() -> str:
    """Return 32 random hex digits: a slot's or an in-flight entry's own id.

    As unique as ``uuid4().hex`` (the same 128 bits from os.urandom) at a fifth
    of its cost: two are made per call, and they are only ever compared.
    """
    return os.urandom(16).hex()


@dataclass(eq=False, slots=True)
class Slot:
    """One acquired unit of capacity, held until its call ends.

    A shared implementation holds it as a lease of ``lease_secs`` under
    ``slot_id`` in the scopes named by ``provider`` and ``session_id``.
    """

    provider: str
    session_id: str
    lease_secs: float
    slot_id: str = field(default_factory=random_id)
    started_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused acquire: the first full scope and when to retry (seconds)."""

    scope: str
    retry_after: float


@dataclass(frozen=True, slots=True)
class RejectionRecord:
    """A recent rejection as the admin shows it."""

    at: float
    scope: str
    name: str
    session_id: str
    agent: str = ""
    tool: str = ""


@dataclass(frozen=True)
class ScopeUsage:
    """Slots used of slots available in one scope (0 available: no own limit)."""

    name: str
    used: int
    available: int


@dataclass(frozen=True)
class CapacitySnapshot:
    """Live usage of every scope and the recent rejections."""

    global_usage: ScopeUsage
    providers: list[ScopeUsage]
    sessions: list[ScopeUsage]
    rejections: list[RejectionRecord]

    @classmethod
    def of(
        cls,
        *,
        used_global: int,
        providers: Mapping[str, int],
        sessions: Mapping[str, int],
        rejections: list[RejectionRecord],
        global_max: int,
        provider_limits: dict[str, int],
        session_max: int,
        session_ids: list[str],
    ) -> CapacitySnapshot:
        """Return the snapshot of slots used per scope against their limits."""
        provider_names = sorted(set(provider_limits) | set(providers))
        # Calls of a closed session still hold its slots until they end.
        session_names = sorted(set(session_ids) | set(sessions))
        return cls(
            global_usage=ScopeUsage(Scope.GLOBAL, used_global, global_max),
            providers=[
                ScopeUsage(name, providers.get(name, 0), provider_limits.get(name, 0))
                for name in provider_names
            ],
            sessions=[
                ScopeUsage(name, sessions.get(name, 0), session_max)
                for name in session_names
            ],
            rejections=rejections,
        )


def retry_after(
    *, oldest: float, durations: Sequence[float], now: float, floor: float
) -> float:
    """Return when a full scope should free a slot, never before the floor."""
    # A slot frees when the oldest call in the scope ends; expect it to take the
    # median of recent durations there. Without history, the floor.
    if not durations:
        return floor
    expected = oldest + statistics.median(durations) - now
    return round(max(floor, expected), 3)


class CapacityLimiter(Protocol):
    """Where calls take and return slots; implementations must never block."""

    async def global_inflight(self) -> int:
        """Return how many slots are taken (for health)."""

    async def forget_session(self, session_id: str) -> None:
        """Drop what is kept about a closed session besides its held slots."""

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        """Take a slot in every scope, or return the first full scope."""

    async def release(self, slot: Slot) -> None:
        """Return a slot and record how long its call took."""

    async def snapshot(
        self,
        *,
        global_max: int,
        provider_limits: dict[str, int],
        session_max: int,
        session_ids: list[str],
    ) -> CapacitySnapshot:
        """Return the current usage of every scope for the admin."""
