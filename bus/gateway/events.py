"""What the pipeline tells a transport about a call: accepted, progress, answer.

Transports turn these into their own frames (WebSocket frames, MCP messages);
the pipeline never builds a transport's frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OK = "ok"


@dataclass(frozen=True, slots=True)
class Accepted:
    """The call passed every check and runs; exactly one per accepted call."""

    request_id: str
    name: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Progress:
    """A heartbeat of a running call (or the note that a resend joined it)."""

    request_id: str
    name: str
    t: float
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The call's one result: `body` holds outputs (and text, bus) or error."""

    request_id: str
    body: dict[str, Any]
    cached: bool = False

    @property
    def outcome(self) -> str:
        """Return "ok" or the error code."""
        error = self.body.get("error")
        return OK if error is None else error["code"]


CallEvent = Accepted | Progress | Answer
