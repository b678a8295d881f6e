"""A call's admission and its end on the in-memory seams, without their coroutines.

``SequentialAdmission`` and ``SequentialCompletion`` await each seam's step:
on the memory seams those are coroutines that never suspend, six per call
(three at admission, three at the end), each created, run and thrown away
(benchmarks/README.md, hot path, third pass). These do the same steps in the
same order through the seams' synchronous twins (``acquire_now`` and the
like), in one coroutine each. ``admission_for`` and ``completion_for`` pick
them only for the memory seams themselves, not for a subclass, whose own
async steps (a test's, a wrapper's) must still be the ones that run.
"""

from __future__ import annotations

from bus.gateway.events import Answer
from bus.gateway.state.admission import Admission, CallAdmission, SequentialAdmission
from bus.gateway.state.capacity import CapacityLimiter, Limits, Slot
from bus.gateway.state.completion import (
    CallCompletion,
    Remembered,
    SequentialCompletion,
)
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.memory import (
    MemoryCallsInFlight,
    MemoryCapacity,
    MemoryResultCache,
)
from bus.gateway.state.results import ResultCache


class MemorySteps:
    """The in-memory seams' steps of admission and completion, one call each."""

    def __init__(
        self,
        *,
        results: MemoryResultCache,
        in_flight: MemoryCallsInFlight,
        capacity: MemoryCapacity,
    ) -> None:
        self.results = results
        self.in_flight = in_flight
        self.capacity = capacity

    async def admit(
        self,
        entry: InFlightCall,
        *,
        replay: str,
        semantic: str | None,
        limits: Limits | None,
    ) -> Admission:
        """Look up, register, acquire (``SequentialAdmission.admit``'s order)."""
        replayed, cached = self.results.lookup_now(entry.agent_key, replay, semantic)
        if replayed is not None or cached is not None:
            return Admission(replayed=replayed, cached=cached)
        holder = self.in_flight.begin_now(entry)
        if holder is not None:
            return Admission(holder=holder)
        if limits is None:
            return Admission()
        try:
            return Admission(outcome=self.capacity.acquire_now(limits))
        except BaseException:
            self.in_flight.end_now(entry)
            raise

    async def complete(
        self,
        *,
        entry: InFlightCall,
        left: Answer | None,
        slot: Slot | None,
        remembered: Remembered | None = None,
    ) -> None:
        """Cache the answer, end the entry, release the slot (in that order)."""
        if remembered is not None:
            self.results.store_now(
                remembered.cached,
                agent=remembered.agent,
                replay=remembered.replay,
                semantic=remembered.semantic,
                retention=remembered.retention,
            )
        self.in_flight.end_now(entry)
        if slot is not None:
            self.capacity.release_now(slot)


def _memory_steps(
    results: ResultCache, in_flight: CallsInFlight, capacity: CapacityLimiter
) -> MemorySteps | None:
    # Exact types: a subclass may override an async step, which must then run.
    if (
        type(results) is MemoryResultCache
        and type(in_flight) is MemoryCallsInFlight
        and type(capacity) is MemoryCapacity
    ):
        return MemorySteps(results=results, in_flight=in_flight, capacity=capacity)
    return None


def admission_for(
    *, results: ResultCache, in_flight: CallsInFlight, capacity: CapacityLimiter
) -> CallAdmission:
    """Return the admission for these seams: MemorySteps on memory, else sequential."""
    steps = _memory_steps(results, in_flight, capacity)
    if steps is not None:
        return steps
    return SequentialAdmission(results=results, in_flight=in_flight, capacity=capacity)


def completion_for(
    *, results: ResultCache, in_flight: CallsInFlight, capacity: CapacityLimiter
) -> CallCompletion:
    """Return the completion for these seams: MemorySteps on memory, else sequential."""
    steps = _memory_steps(results, in_flight, capacity)
    if steps is not None:
        return steps
    return SequentialCompletion(results=results, in_flight=in_flight, capacity=capacity)
