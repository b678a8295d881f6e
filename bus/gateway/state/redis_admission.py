"""Steps 3 to 7 of a call in Redis: lookup, register, acquire in one command.

The result cache's lookup (an ``MGET``), the calls-in-flight ``BEGIN_SCRIPT``
and the capacity ``ACQUIRE_SCRIPT`` run as one script made of theirs
(``redis_batch``): it stops after the lookup when it finds an answer, after
the registration when another call holds the request id or semantic key,
and otherwise takes the slot. Redis runs it atomically, which is more than
the three in a row promised: nothing comes between a registration and its
slot. Each seam prepares its step and takes its reply as it does alone.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from bus.gateway.state.admission import Admission
from bus.gateway.state.capacity import Limits
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.redis_batch import ScriptBatches, Step
from bus.gateway.state.redis_capacity import ACQUIRE_SCRIPT, RedisCapacity
from bus.gateway.state.redis_inflight import BEGIN_SCRIPT, RedisCallsInFlight
from bus.gateway.state.results import decode_cached

LOOKUP_SCRIPT = "return redis.call('MGET', unpack(KEYS))"

# Replies {1, entries found}, {2, holder}, {3, acquire's reply or false when
# there was no acquire step}.
ADMIT_STEPS = """
local found = steps[1](inputs(1))
if found[1] or found[2] then return {1, found} end
local holder = steps[2](inputs(2))
if holder then return {2, holder} end
if #steps == 2 then return {3, false} end
return {3, steps[3](inputs(3))}
"""


class RedisAdmission:
    """Lookup, register and acquire in one Redis command."""

    def __init__(
        self,
        batches: ScriptBatches,
        *,
        in_flight: RedisCallsInFlight,
        capacity: RedisCapacity,
    ) -> None:
        self.batches = batches
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
        """Look up, register, acquire: one round trip."""
        entry, value, begin_keys, begin_args = await self.in_flight.prepare_begin(entry)
        lookup_keys = [replay] if semantic is None else [replay, semantic]
        steps: list[Step] = [
            (LOOKUP_SCRIPT, lookup_keys, []),
            (BEGIN_SCRIPT, begin_keys, begin_args),
        ]
        if limits is not None:
            steps.append((ACQUIRE_SCRIPT, *self.capacity.acquire_arguments(limits)))
        try:
            stage, reply = await self.batches.evaluate(steps, ADMIT_STEPS)
        except RedisError:
            # Registered or not, nobody renews it: ended before the next one.
            self.in_flight.begin_failed(entry, value)
            raise
        if stage == 1:
            replayed, reused = (reply + [None])[:2]
            return Admission(
                replayed=None if replayed is None else decode_cached(replayed),
                cached=None if reused is None else decode_cached(reused),
            )
        if stage == 2:
            holder = self.in_flight.begun(entry, value, reply)
            if holder is not None:
                return Admission(holder=holder)
            # A command retried after a lost reply found its own entry:
            # registered, without the slot the script stopped before.
            return Admission()
        self.in_flight.begun(entry, value, None)
        if reply is None or limits is None:
            return Admission()
        return Admission(outcome=self.capacity.acquired(limits, reply))
