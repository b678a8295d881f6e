"""The calls-in-flight seam: which requests run now, by agent and request id
and by semantic key, and how a cancel reaches the process that runs one.

Entries are plain values (no task objects), so a cross-process implementation
can hold them; the process that runs a call keeps its task to itself and
listens for cancels of its calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InFlightCall:
    """A call between acceptance and its answer.

    `fingerprint` identifies its tool and canonical arguments, so that a resend
    of the request id that asks for something else is told apart.
    """

    agent_key: str
    request_id: str
    tool_name: str
    semantic: str | None
    fingerprint: str


# Called with (agent_key, request_id, reason) in the process that runs the call.
CancelListener = Callable[[str, str, str], None]


class CallsInFlight(Protocol):
    """Register calls, find them, and route cancels to whoever runs them."""

    async def begin(self, call: InFlightCall) -> InFlightCall | None:
        """Register a call, or return the one holding its request id or semantic key."""

    async def end(self, call: InFlightCall) -> None:
        """Forget a call that has its answer (a second end changes nothing)."""

    async def find(self, agent_key: str, request_id: str) -> InFlightCall | None:
        """Return the agent's call in flight under a request id, if any."""

    async def cancel(self, agent_key: str, request_id: str, reason: str) -> bool:
        """Ask the process running the call to cancel it; False when none runs."""

    async def count(self) -> int:
        """Return how many calls are in flight."""

    def listen_cancels(self, listener: CancelListener) -> None:
        """Have cancels of this process's calls delivered to a listener."""
