"""The end of an accepted call in Redis: its three steps in one round trip.

The steps of ``completion`` (cache the answer, end the in-flight entry,
release the slot) are each one of the seams' Lua scripts; they run as one
script made of theirs (``redis_batch``), in that order: one command, one
round trip. Each step keeps the failure handling of the seam it belongs to.
"""

from __future__ import annotations

from functools import partial

from bus.gateway.events import Answer
from bus.gateway.state.capacity import Slot
from bus.gateway.state.completion import Remembered, not_cached
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.redis_batch import ScriptBatches, ScriptCall
from bus.gateway.state.redis_capacity import RedisCapacity
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.redis_results import RedisResultCache


class RedisCompletion:
    """Cache, end and release in one Redis command."""

    def __init__(
        self,
        batches: ScriptBatches,
        *,
        results: RedisResultCache,
        in_flight: RedisCallsInFlight,
        capacity: RedisCapacity,
    ) -> None:
        self.batches = batches
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
        """Cache the answer, end the entry, release the slot: one round trip."""
        steps: list[ScriptCall | None] = []
        if remembered is not None:
            steps.append(
                self.results.store_call(
                    remembered.cached,
                    agent=remembered.agent,
                    replay=remembered.replay,
                    semantic=remembered.semantic,
                    retention=remembered.retention,
                    failed=partial(not_cached, entry),
                )
            )
        steps.append(self.in_flight.end_call(entry, left))
        if slot is not None:
            steps.append(self.capacity.release_call(slot))
        batch = [step for step in steps if step is not None]
        if batch:
            await self.batches.run(batch)
