"""The calls-in-flight seam: which requests run now, by agent and request id
and by semantic key, and how cancels, joins and a call's events reach the
processes concerned.

Entries are plain values (no task objects), so a cross-process implementation
can hold them; the process that runs a call keeps its task to itself. Each
entry names the worker that runs it: a cancel, or a resend that joins the call
("still processing"), is sent to that worker's listener, and the worker relays
the call's heartbeats and its one answer back to the workers whose sessions
joined it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bus.gateway.events import Answer, CallEvent
from bus.gateway.state.capacity import MAX_LEASE_SECS, random_id


@dataclass(frozen=True, slots=True)
class InFlightCall:
    """A call between acceptance and its answer.

    `fingerprint` identifies its tool and canonical arguments, so that a resend
    of the request id that asks for something else is told apart. `worker`
    runs it (set by the implementation that registers it); a shared
    implementation keeps it as a lease of `lease_secs` that its worker renews,
    so it disappears when that worker dies. `entry_id` tells two registrations
    of one request id apart: an end removes only its own.
    """

    agent_key: str
    request_id: str
    tool_name: str
    semantic: str | None
    fingerprint: str
    worker: str = ""
    lease_secs: float = MAX_LEASE_SECS
    entry_id: str = field(default_factory=random_id)


class InFlightListener(Protocol):
    """What a worker does when another (or itself) addresses one of its calls."""

    def cancel_here(self, agent_key: str, request_id: str, reason: str) -> None:
        """Cancel a call this worker runs, if it still runs."""

    def join_here(self, agent_key: str, request_id: str, worker: str) -> None:
        """Relay a call's further events to `worker`, whose session joined it."""

    async def relayed(self, agent_key: str, event: CallEvent) -> None:
        """Deliver an event of a call another worker runs to the sessions here."""


class CallsInFlight(Protocol):
    """Register calls, find them, and route cancels, joins and events."""

    worker: str

    async def begin(self, call: InFlightCall) -> InFlightCall | None:
        """Register a call, or return the one holding its request id or semantic key."""

    async def end(self, call: InFlightCall, answer: Answer | None = None) -> None:
        """Forget a call that has its answer (a second end changes nothing).

        A shared implementation keeps the answer for the call's lease, for
        joined workers whose relayed copy was lost (``answer_of``).
        """

    async def answer_of(self, held: InFlightCall) -> Answer | None:
        """Return the answer a call ended with, if it is still known."""

    async def find(self, agent_key: str, request_id: str) -> InFlightCall | None:
        """Return the agent's call in flight under a request id, if any."""

    async def cancel(self, agent_key: str, request_id: str, reason: str) -> bool:
        """Ask the worker running the call to cancel it; False when none runs."""

    async def join(self, held: InFlightCall) -> None:
        """Ask the worker running `held` to relay its events to this worker."""

    async def relay(self, worker: str, agent_key: str, event: CallEvent) -> None:
        """Send an event of a call this worker runs to a worker that joined it."""

    async def count(self) -> int:
        """Return how many calls are in flight."""

    def listen(self, listener: InFlightListener) -> None:
        """Have cancels, joins and relayed events for this worker delivered."""
