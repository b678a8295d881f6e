"""The end of an accepted call across the three seams, as one step.

An accepted call ends with up to three changes of shared state, in this
order: its answer is cached (when the protocol keeps it), its in-flight entry
ends, its slot is released. The order is what a resend relies on: it finds
the call in flight or its answer cached, never neither. None of the three
decides another, so a shared implementation sends them together
(``redis_completion``, one Redis round trip instead of three);
``SequentialCompletion`` runs them one after the other on any seams, which is
what a gateway built without a batched one uses on seams other than the
memory ones (those take ``memory_steps``, the same steps without a coroutine
each).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bus.gateway.events import Answer
from bus.gateway.state.capacity import CapacityLimiter, Slot
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.state.results import Cached, ResultCache, Retention

logger = logging.getLogger(__name__)


# Not frozen: built once per call, and frozen fields cost a setattr call each
# (metrics.CallRecord). Nothing changes one.
@dataclass(slots=True)
class Remembered:
    """An answer to cache for replay (and reuse, with a semantic key)."""

    cached: Cached
    agent: str
    replay: str
    semantic: str | None
    retention: Retention


class CallCompletion(Protocol):
    """Cache a call's answer, end its entry and release its slot, in that order."""

    async def complete(
        self,
        *,
        entry: InFlightCall,
        left: Answer | None,
        slot: Slot | None,
        remembered: Remembered | None = None,
    ) -> None:
        """Do the steps that apply; a shared state that cannot be reached is
        logged, not raised (the answer still goes out; entries and leases
        expire by themselves).

        `left` is the answer kept for workers that joined the call.
        """


class SequentialCompletion:
    """The three steps one after the other, through the seams' own methods."""

    def __init__(
        self,
        *,
        results: ResultCache,
        in_flight: CallsInFlight,
        capacity: CapacityLimiter,
    ) -> None:
        self.results = results
        self.in_flight = in_flight
        self.capacity = capacity

    async def complete(
        self,
        *,
        entry: InFlightCall,
        left: Answer | None,
        slot: Slot | None,
        remembered: Remembered | None = None,
    ) -> None:
        """Cache the answer, end the entry, release the slot."""
        if remembered is not None:
            try:
                await self.results.store(
                    remembered.cached,
                    agent=remembered.agent,
                    replay=remembered.replay,
                    semantic=remembered.semantic,
                    retention=remembered.retention,
                )
            except OUTAGE_ERRORS:
                not_cached(entry)
        await self.in_flight.end(entry, left)
        if slot is not None:
            await self.capacity.release(slot)


def not_cached(entry: InFlightCall, error: BaseException | None = None) -> None:
    """Log an answer the shared cache could not keep."""
    # Only a later resend of its request id runs the call again.
    logger.warning("Answer of %s not cached", entry.request_id, exc_info=error or True)
