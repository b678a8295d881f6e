"""In-process implementations of the state seams: enough for one server process.

The event loop mutates them; locks only guard readers in other threads (the
admin's sync views) against a dict changing size under them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from bus.gateway.events import Answer, CallEvent
from bus.gateway.state.capacity import (
    CapacitySnapshot,
    Limits,
    Rejection,
    RejectionRecord,
    Slot,
    retry_after,
)
from bus.gateway.state.inflight import InFlightCall, InFlightListener
from bus.gateway.state.results import Cached, Retention, decode_cached, encode_cached
from bus.gateway.worker import worker_id
from bus.protocol import Scope

RECENT_DURATIONS = 64
RECENT_REJECTIONS = 50


class MemoryCapacity:
    """Capacity counters in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._global: set[Slot] = set()
        self._providers: dict[str, set[Slot]] = {}
        self._sessions: dict[str, set[Slot]] = {}
        self._durations: dict[tuple[str, str], deque[float]] = {}
        self._rejections: deque[RejectionRecord] = deque(maxlen=RECENT_REJECTIONS)

    async def global_inflight(self) -> int:
        """Return how many slots are taken in this process."""
        return len(self._global)

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        """Take a slot in every scope, or return the first full scope."""
        return self.acquire_now(limits)

    def acquire_now(self, limits: Limits) -> Slot | Rejection:
        """`acquire` without the coroutine (``memory_steps``)."""
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
                RejectionRecord(
                    time.time(),
                    scope,
                    name,
                    limits.session_id,
                    agent=limits.agent,
                    tool=limits.tool,
                )
            )
            return rejection
        slot = Slot(limits.provider, limits.session_id, limits.lease_secs)
        with self._lock:
            self._global.add(slot)
            self._providers.setdefault(limits.provider, set()).add(slot)
            self._sessions.setdefault(limits.session_id, set()).add(slot)
        return slot

    async def release(self, slot: Slot) -> None:
        """Return a slot (a second release of the same slot changes nothing)."""
        self.release_now(slot)

    def release_now(self, slot: Slot) -> None:
        """`release` without the coroutine (``memory_steps``)."""
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

    async def forget_session(self, session_id: str) -> None:
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
        if not held:
            return floor
        return retry_after(
            oldest=min(slot.started_at for slot in held),
            durations=self._durations.get(key, ()),
            now=time.monotonic(),
            floor=floor,
        )

    async def snapshot(
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
        return CapacitySnapshot.of(
            used_global=used_global,
            providers=providers,
            sessions=sessions,
            rejections=rejections[::-1],
            global_max=global_max,
            provider_limits=provider_limits,
            session_max=session_max,
            session_ids=session_ids,
        )


class MemoryCallsInFlight:
    """Calls in flight in this process's memory; every listener is local.

    Joins and relays go straight to this process's listener, so one process
    follows the same path as several workers do through Redis.
    """

    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker if worker is not None else worker_id()
        self._by_request: dict[tuple[str, str], InFlightCall] = {}
        self._by_semantic: dict[str, InFlightCall] = {}
        self._listeners: list[InFlightListener] = []

    async def begin(self, call: InFlightCall) -> InFlightCall | None:
        """Register a call, or return the one holding its request id or semantic key."""
        return self.begin_now(call)

    def begin_now(self, call: InFlightCall) -> InFlightCall | None:
        """`begin` without the coroutine (``memory_steps``)."""
        holder = self._by_request.get((call.agent_key, call.request_id))
        if holder is None and call.semantic is not None:
            holder = self._by_semantic.get(call.semantic)
        if holder is not None:
            return holder
        entry = (
            call if call.worker == self.worker else replace(call, worker=self.worker)
        )
        self._by_request[(call.agent_key, call.request_id)] = entry
        if call.semantic is not None:
            self._by_semantic[call.semantic] = entry
        return None

    async def end(self, call: InFlightCall, answer: Answer | None = None) -> None:
        """Forget a call that has its answer (a second end changes nothing)."""
        self.end_now(call)

    def end_now(self, call: InFlightCall) -> None:
        """`end` without the coroutine (``memory_steps``)."""
        key = (call.agent_key, call.request_id)
        held = self._by_request.get(key)
        if held is not None and held.entry_id == call.entry_id:
            del self._by_request[key]
        if call.semantic is not None:
            held = self._by_semantic.get(call.semantic)
            if held is not None and held.entry_id == call.entry_id:
                del self._by_semantic[call.semantic]

    async def find(self, agent_key: str, request_id: str) -> InFlightCall | None:
        """Return the agent's call in flight under a request id, if any."""
        return self._by_request.get((agent_key, request_id))

    async def answer_of(self, held: InFlightCall) -> Answer | None:
        """Return None: in one process the answer reached every session at once."""
        return None

    async def cancel(self, agent_key: str, request_id: str, reason: str) -> bool:
        """Tell the listeners to cancel the call; False when none runs."""
        if (agent_key, request_id) not in self._by_request:
            return False
        for listener in self._listeners:
            listener.cancel_here(agent_key, request_id, reason)
        return True

    async def join(self, held: InFlightCall) -> None:
        """Have the listeners relay the call's events (to this same process)."""
        for listener in self._listeners:
            listener.join_here(held.agent_key, held.request_id, self.worker)

    async def relay(self, worker: str, agent_key: str, event: CallEvent) -> None:
        """Hand a call's event to the listeners (`worker` is this process)."""
        for listener in self._listeners:
            await listener.relayed(agent_key, event)

    async def count(self) -> int:
        """Return how many calls are in flight."""
        return len(self._by_request)

    def listen(self, listener: InFlightListener) -> None:
        """Have cancels, joins and events delivered to a listener (the gateway)."""
        self._listeners.append(listener)


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    expires_at: float


class _AgentResults:
    """One agent's cached answers, oldest first, and their total size."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.size = 0
        self.expires_at = 0.0

    def get(self, key: str, now: float) -> Cached | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            # An expired entry is absent: drop it now rather than at eviction.
            self._drop(key)
            return None
        return decode_cached(entry.data)

    def put(self, key: str, entry: _Entry) -> None:
        if key in self.entries:
            self._drop(key)
        self.entries[key] = entry
        self.size += len(entry.data)
        self.expires_at = max(self.expires_at, entry.expires_at)

    def drop_expired(self, now: float) -> None:
        # From the oldest end only: with a constant TTL that is every expired
        # entry; after the TTL was lowered, a few wait behind a newer one, still
        # within the bounds.
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            if entry.expires_at > now:
                return
            self._drop(key)

    def trim(self, retention: Retention, *, keep: int) -> None:
        # The newest `keep` entries (the store that trims) always stay.
        while len(self.entries) > keep and (
            len(self.entries) > retention.max_entries or self.size > retention.max_bytes
        ):
            self._drop(next(iter(self.entries)))

    def _drop(self, key: str) -> None:
        self.size -= len(self.entries.pop(key).data)


class MemoryResultCache:
    """Answers in this process's memory, bounded per agent in entries and bytes.

    Entries are kept serialized, so an agent's memory is its byte bound (plus
    about 200 bytes of bookkeeping per entry).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # Agents in the order of their latest store: an idle agent reaches the
        # front, and is dropped once its last entry has expired.
        self._agents: OrderedDict[str, _AgentResults] = OrderedDict()

    async def lookup(
        self, agent: str, replay: str, semantic: str | None
    ) -> tuple[Cached | None, Cached | None]:
        """Return the agent's entries under the replay and semantic keys."""
        return self.lookup_now(agent, replay, semantic)

    def lookup_now(
        self, agent: str, replay: str, semantic: str | None
    ) -> tuple[Cached | None, Cached | None]:
        """`lookup` without the coroutine (``memory_steps``)."""
        results = self._agents.get(agent)
        if results is None:
            return None, None
        now = self._clock()
        reused = results.get(semantic, now) if semantic is not None else None
        return results.get(replay, now), reused

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
        self.store_now(
            cached, agent=agent, replay=replay, semantic=semantic, retention=retention
        )

    def store_now(
        self,
        cached: Cached,
        *,
        agent: str,
        replay: str,
        semantic: str | None,
        retention: Retention,
    ) -> None:
        """`store` without the coroutine (``memory_steps``)."""
        if retention.ttl <= 0:
            return
        now = self._clock()
        self._forget_idle_agents(now)
        results = self._agents.pop(agent, None) or _AgentResults()
        self._agents[agent] = results
        results.drop_expired(now)
        # One serialized copy serves both keys; each counts it against the bound.
        entry = _Entry(encode_cached(cached), now + retention.ttl)
        keys = [replay] if semantic is None else [semantic, replay]
        for key in keys:
            results.put(key, entry)
        results.trim(retention, keep=len(keys))

    def _forget_idle_agents(self, now: float) -> None:
        while self._agents:
            first = next(iter(self._agents.values()))
            if first.expires_at > now:
                return
            self._agents.popitem(last=False)
