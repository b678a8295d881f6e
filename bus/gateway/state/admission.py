"""Steps 3 to 7 of a call across the seams, as one step.

Before a call is accepted it is looked up in the result cache (steps 3 and
5), registered in flight (4 and 6: `begin` returns a resend's running call or
a duplicate's as its holder) and given a slot (7), in that order, each only
when the one before let it through. A shared implementation does all that in
one command (``redis_admission``); ``SequentialAdmission`` calls the seams one
after the other, what a gateway built without a batched one uses on seams
other than the memory ones (those take ``memory_steps``, the same steps
without a coroutine each). Either way a registered call that gets no slot (a
rejection, or no `limits` while draining) stays registered: the caller ends
it like any call (``completion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bus.gateway.state.capacity import CapacityLimiter, Limits, Rejection, Slot
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.results import Cached, ResultCache


# Not frozen: built once per call, and frozen fields cost a setattr call each
# (metrics.CallRecord). Nothing changes one.
@dataclass(slots=True)
class Admission:
    """How far a call got: a cached answer, a holder, or registered with an outcome.

    `outcome` is None when the call was registered without `limits`.
    """

    replayed: Cached | None = None
    cached: Cached | None = None
    holder: InFlightCall | None = None
    outcome: Slot | Rejection | None = None


class CallAdmission(Protocol):
    """Look a call up, register it, take its slot: each only past the one before."""

    async def admit(
        self,
        entry: InFlightCall,
        *,
        replay: str,
        semantic: str | None,
        limits: Limits | None,
    ) -> Admission:
        """Return how far the call got; raise one of OUTAGE_ERRORS when the
        shared state cannot be reached (with the entry, if registered, ended).
        """


class SequentialAdmission:
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

    async def admit(
        self,
        entry: InFlightCall,
        *,
        replay: str,
        semantic: str | None,
        limits: Limits | None,
    ) -> Admission:
        """Look up, register, acquire."""
        replayed, cached = await self.results.lookup(entry.agent_key, replay, semantic)
        if replayed is not None or cached is not None:
            return Admission(replayed=replayed, cached=cached)
        holder = await self.in_flight.begin(entry)
        if holder is not None:
            return Admission(holder=holder)
        if limits is None:
            return Admission()
        try:
            return Admission(outcome=await self.capacity.acquire(limits))
        except BaseException:
            await self.in_flight.end(entry)
            raise
