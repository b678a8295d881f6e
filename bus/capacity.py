"""Concurrency limits (global, provider, session) behind one small interface.

``CapacityLimiter`` is the seam: ``InProcessLimiter`` enforces the limits for one
server process; a cross-process implementation (for several workers) provides the
same three coroutines. Acquiring never waits: a full scope is answered at once
with the scope and a ``retry_after`` estimated from recent call durations there.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from bus.protocol import Scope

RECENT_DURATIONS = 64
RECENT_REJECTIONS = 50


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

    @property
    def global_inflight(self) -> int:
        """Return how many slots are taken (for health)."""

    def forget_session(self, session_id: str) -> None:
        """Drop what is kept about a closed session besides its held slots."""

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        """Take a slot in every scope, or return the first full scope."""

    async def release(self, slot: Slot) -> None:
        """Return a slot and record how long its call took."""

    def snapshot(
        self,
        *,
        global_max: int,
        provider_limits: dict[str, int],
        session_max: int,
        session_ids: list[str],
    ) -> CapacitySnapshot:
        """Return the current usage of every scope for the admin."""


class InProcessLimiter:
    """Counters in this process's memory: enough for a single server process."""

    def __init__(self) -> None:
        # The event loop mutates the counters; the lock only guards readers in
        # admin threads (snapshot) against a dict changing size under them.
        self._lock = threading.Lock()
        self._global: set[Slot] = set()
        self._providers: dict[str, set[Slot]] = {}
        self._sessions: dict[str, set[Slot]] = {}
        self._durations: dict[tuple[str, str], deque[float]] = {}
        self._rejections: deque[RejectionRecord] = deque(maxlen=RECENT_REJECTIONS)

    @property
    def global_inflight(self) -> int:
        """Return how many slots are taken in this process."""
        return len(self._global)

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        """Take a slot in every scope, or return the first full scope."""
        provider_slots = self._providers.get(limits.provider, ())
        session_slots = self._sessions.get(limits.session_id, ())
        full: tuple[str, str, set[Slot] | tuple[()]] | None = None
        if len(self._global) >= limits.global_max:
            full = (Scope.GLOBAL, "", self._global)
        elif limits.provider_max and len(provider_slots) >= limits.provider_max:
            full = (Scope.PROVIDER, limits.provider, provider_slots)
        elif len(session_slots) >= limits.session_max:
            full = (Scope.SESSION, limits.session_id, session_slots)
        if full is not None:
            scope, name, held = full
            rejection = Rejection(
                scope, self._retry_after((scope, name), held, limits.retry_floor)
            )
            self._rejections.append(
                RejectionRecord(time.time(), scope, name, limits.session_id)
            )
            return rejection
        slot = Slot(limits.provider, limits.session_id)
        with self._lock:
            self._global.add(slot)
            self._providers.setdefault(limits.provider, set()).add(slot)
            self._sessions.setdefault(limits.session_id, set()).add(slot)
        return slot

    async def release(self, slot: Slot) -> None:
        """Return a slot (a second release of the same slot changes nothing)."""
        if slot not in self._global:
            return
        elapsed = time.monotonic() - slot.started_at
        with self._lock:
            self._global.discard(slot)
            self._drop(self._providers, slot.provider, slot)
            self._drop(self._sessions, slot.session_id, slot)
        for key in (
            (Scope.GLOBAL, ""),
            (Scope.PROVIDER, slot.provider),
            (Scope.SESSION, slot.session_id),
        ):
            recent = self._durations.get(key)
            if recent is None:
                recent = self._durations[key] = deque(maxlen=RECENT_DURATIONS)
            recent.append(elapsed)

    def forget_session(self, session_id: str) -> None:
        """Drop the duration history of a closed session (its slots stay counted)."""
        self._durations.pop((Scope.SESSION, session_id), None)

    @staticmethod
    def _drop(table: dict[str, set[Slot]], key: str, slot: Slot) -> None:
        held = table.get(key)
        if held is not None:
            held.discard(slot)
            if not held:
                del table[key]

    def _retry_after(
        self, key: tuple[str, str], held: set[Slot] | tuple[()], floor: float
    ) -> float:
        # A slot frees when the oldest call in the scope ends; expect it to take
        # the median of recent durations there. Without history, the floor.
        recent = self._durations.get(key)
        if not recent or not held:
            return floor
        typical = statistics.median(recent)
        oldest = min(slot.started_at for slot in held)
        expected = oldest + typical - time.monotonic()
        return round(max(floor, expected), 3)

    def snapshot(
        self,
        *,
        global_max: int,
        provider_limits: dict[str, int],
        session_max: int,
        session_ids: list[str],
    ) -> CapacitySnapshot:
        """Return the current usage of every scope for the admin."""
        with self._lock:
            used_global = len(self._global)
            providers = {name: len(held) for name, held in self._providers.items()}
            sessions = {name: len(held) for name, held in self._sessions.items()}
            rejections = list(self._rejections)
        provider_names = sorted(set(provider_limits) | set(providers))
        # Calls of a closed session still hold its slots until they end.
        session_names = sorted(set(session_ids) | set(sessions))
        return CapacitySnapshot(
            global_usage=ScopeUsage(Scope.GLOBAL, used_global, global_max),
            providers=[
                ScopeUsage(name, providers.get(name, 0), provider_limits.get(name, 0))
                for name in provider_names
            ],
            sessions=[
                ScopeUsage(name, sessions.get(name, 0), session_max)
                for name in session_names
            ],
            rejections=rejections[::-1],
        )
