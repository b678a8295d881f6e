"""Sessions that wait for a call run by another worker, and the relays that
reach them.

A resend of a request id in flight (PROTOCOL.md step 4), or a cancel, from a
session whose worker does not run the call joins it: the session gets the
"still processing" note at once, this worker asks the running one
(``CallsInFlight.join``) to relay the call's heartbeats and its one answer,
and ``Joins.relayed`` delivers them. On the running worker a relay is one more
subscriber of the call: a session whose transport publishes to the joined
worker, so the call's task sends to it as to its own sessions.

Pub/sub loses messages sent while a worker resubscribes, and brings nothing
from a runner that died, so every joined call is also watched (a third of
its lease apart): while its entry is there the join is asked again until the
call is heard from; once the entry is gone, the waiting sessions get the
answer the runner left with its end (``CallsInFlight.answer_of``), else its
stored result, else, after two checks in a row, the error that the worker
running the call was lost. A resend then runs the call again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bus.gateway.attempt import state_unreachable, worker_lost
from bus.gateway.events import Answer, CallEvent, Progress
from bus.gateway.execution import Call
from bus.gateway.sessions import Session
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.state.results import ResultCache, replay_key
from bus.protocol import DUPLICATE_NOTE
from controlplane.config import aget_config

logger = logging.getLogger(__name__)

# Checks that must find the entry gone before the wait ends: its runner ends
# the entry just before it sends the answer, which may still be on its way.
MISSES_TO_GIVE_UP = 2
RELAY_PREFIX = "relay:"


@dataclass(eq=False)
class Joined:
    """A call run elsewhere, and the sessions of this worker that wait for it."""

    held: InFlightCall
    replay: str
    sessions: dict[str, Session]
    misses: int = 0
    heard: bool = False


class Relay:
    """A transport that sends a call's events to a worker that joined it."""

    def __init__(self, in_flight: CallsInFlight, worker: str, agent_key: str) -> None:
        self.in_flight, self.worker, self.agent_key = in_flight, worker, agent_key

    async def deliver(self, event: CallEvent) -> int:
        """Publish the event to the joined worker; it counts no bytes sent here."""
        await self.in_flight.relay(self.worker, self.agent_key, event)
        return 0

    async def close(self, code: int) -> None:
        """Nothing to close: the joined worker's sessions are its own."""


class Joins:
    """This worker's side of calls that cross workers; the seam's listener."""

    def __init__(
        self,
        *,
        in_flight: CallsInFlight,
        results: ResultCache,
        running: dict[tuple[str, str], Call],
    ) -> None:
        self.in_flight, self.results, self.running = in_flight, results, running
        self.waiting: dict[tuple[str, str], Joined] = {}
        self._watcher: asyncio.Task[None] | None = None

    # The waiting side

    async def join(
        self, session: Session, held: InFlightCall, replay: str, *, note: bool = True
    ) -> None:
        """Have a session wait for a call in flight elsewhere (raises on an outage)."""
        key = (held.agent_key, held.request_id)
        joined = self.waiting.get(key)
        if joined is None or joined.held.entry_id != held.entry_id:
            joined = Joined(held=held, replay=replay, sessions={})
            self.waiting[key] = joined
            try:
                await self.in_flight.join(held)
            except OUTAGE_ERRORS:
                del self.waiting[key]
                raise
        joined.sessions[session.session_id] = session
        self._ensure_watcher()
        if note:
            await session.deliver(
                Progress(held.request_id, held.tool_name, time.time(), DUPLICATE_NOTE)
            )

    async def subscribe(
        self, session: Session, held: InFlightCall, replay: str
    ) -> None:
        """Have a session that resent a call's request id get its events and answer."""
        call = self.running.get((held.agent_key, held.request_id))
        if call is None:
            # Run by another worker (or ending here this moment): it relays.
            await self.join(session, held, replay)
            return
        call.subscribers[session.session_id] = session
        await session.deliver(call.progress(DUPLICATE_NOTE))

    async def cancel(self, session: Session, request_id: str, reason: str) -> bool:
        """Cancel an agent's call in flight here or on another worker.

        The cancelling session waits for the call's answer too (CANCELLED),
        as when it runs here; False when no such call is in flight.
        """
        key = (session.agent.key, request_id)
        call = self.running.get(key)
        if call is not None:
            call.subscribers[session.session_id] = session
            call.cancel(reason)
            return True
        held = await self.in_flight.find(*key)
        if held is None:
            return False
        replay = replay_key(session.agent.key, request_id)
        # Joined first, so the CANCELLED answer finds this session waiting.
        await self.join(session, held, replay, note=False)
        try:
            if await self.in_flight.cancel(*key, reason):
                return True
        except OUTAGE_ERRORS:
            self._leave(key, session.session_id)
            raise
        # It ended meanwhile: nothing to wait for.
        self._leave(key, session.session_id)
        return False

    def forget(self, session_id: str) -> None:
        """Stop delivering to a closed session."""
        for key in list(self.waiting):
            self._leave(key, session_id)

    def _leave(self, key: tuple[str, str], session_id: str) -> None:
        joined = self.waiting.get(key)
        if joined is not None:
            joined.sessions.pop(session_id, None)
            if not joined.sessions:
                del self.waiting[key]

    async def check(self) -> None:
        """End the waits for calls whose entry is gone (ended, or their worker died)."""
        for key, joined in list(self.waiting.items()):
            answer = await self._outcome(joined)
            if answer is not None and self.waiting.get(key) is joined:
                del self.waiting[key]
                for session in list(joined.sessions.values()):
                    await session.deliver(answer)

    async def _outcome(self, joined: Joined) -> Answer | None:
        """Return the answer for a call whose entry is gone; None: wait on."""
        held = joined.held
        try:
            current = await self.in_flight.find(held.agent_key, held.request_id)
            if current is not None and current.entry_id == held.entry_id:
                joined.misses = 0
                if not joined.heard:
                    # The join may have reached a runner that was not
                    # listening (resubscribing): asking again is harmless.
                    await self.in_flight.join(held)
                return None
            final = await self.in_flight.answer_of(held)
            if final is not None:
                return final
            stored, _ = await self.results.lookup(held.agent_key, joined.replay, None)
        except OUTAGE_ERRORS:
            logger.warning(
                "Cannot check call %s in flight", held.request_id, exc_info=True
            )
            joined.misses += 1
            if joined.misses < MISSES_TO_GIVE_UP:
                return None
            return Answer(held.request_id, state_unreachable(await aget_config()))
        # A stored answer is the call's own (its runner stored it before
        # ending the entry): the same frame the relay would bring.
        if stored is not None and stored.fingerprint == held.fingerprint:
            return Answer(held.request_id, stored.body)
        joined.misses += 1
        if joined.misses < MISSES_TO_GIVE_UP:
            return None
        logger.warning(
            "Worker %s running call %s was lost", held.worker, held.request_id
        )
        return Answer(held.request_id, worker_lost())

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Check the joined calls until none is left; the task's boundary."""
        while self.waiting:
            interval = min(j.held.lease_secs for j in self.waiting.values()) / 3
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:
                # The next round checks again; the waits stay bounded by it.
                logger.exception("Checking joined calls failed")

    # The running side: InFlightListener

    def cancel_here(self, agent_key: str, request_id: str, reason: str) -> None:
        """Cancel a call this worker runs, if it still runs."""
        call = self.running.get((agent_key, request_id))
        if call is not None:
            call.cancel(reason)

    def join_here(self, agent_key: str, request_id: str, worker: str) -> None:
        """Relay a running call's further events to a worker that joined it.

        A call that has ended sends nothing: the joined worker finds its entry
        gone and the answer its end left in Redis.
        """
        call = self.running.get((agent_key, request_id))
        if call is None or call.answered:
            return
        relay = Relay(self.in_flight, worker, agent_key)
        session_id = RELAY_PREFIX + worker
        call.subscribers[session_id] = Session(
            agent=call.agent, transport=relay, session_id=session_id
        )

    @staticmethod
    def left_for(call: Call, answer: Answer | None) -> Answer | None:
        """Return the answer to leave in Redis for workers that joined the call.

        None when no other worker joined it: most calls are never joined, and
        an answer can be large.
        """
        if any(key.startswith(RELAY_PREFIX) for key in call.subscribers):
            return answer
        return None

    async def relayed(self, agent_key: str, event: CallEvent) -> None:
        """Deliver an event of a call run elsewhere to the sessions waiting here."""
        key = (agent_key, event.request_id)
        joined = self.waiting.get(key)
        if joined is None:
            return
        joined.heard = True
        if isinstance(event, Answer):
            del self.waiting[key]
        for session in list(joined.sessions.values()):
            await session.deliver(event)
