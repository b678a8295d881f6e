"""The capacity seam: concurrency limits (global, provider, session).

``CapacityLimiter`` is the interface; ``memory.MemoryCapacity`` enforces the
limits for one server process, and a cross-process implementation (several
workers) provides the same coroutines. Acquiring never waits: a full scope is
answered at once with the scope and a ``retry_after`` estimated from recent
call durations there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one call, read from configuration at call time."""

    global_max: int
    provider: str
    provider_max: int
    session_id: str
    session_max: int
    retry_floor: float


@dataclass(eq=False, slots=True)
class Slot:
    """One acquired unit of capacity, held until its call ends."""

    provider: str
    session_id: str
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
