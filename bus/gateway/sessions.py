"""Who calls: agents, and the sessions through which transports reach the pipeline."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from bus.gateway.events import CallEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Agent:
    """Who a session acts for; `key` scopes caches and in-flight requests."""

    key: str
    id: int | None
    name: str
    allowed_tools: frozenset[str] = frozenset()

    def may_call(self, name: str) -> bool:
        """Return whether the allow-list (empty: everything) admits a tool."""
        return not self.allowed_tools or name in self.allowed_tools


ANONYMOUS = Agent(key="anonymous", id=None, name="anonymous")


class Transport(Protocol):
    """How a session's events reach its client; one per connection.

    `name` says which transport it is in the call history ("websocket", "mcp").
    """

    name: str

    async def deliver(self, event: CallEvent) -> int:
        """Send one event to the client and return the bytes sent."""

    async def close(self, code: int) -> None:
        """Close the connection with a protocol close code."""


@dataclass(eq=False)
class Session:
    """One authenticated connection of any transport."""

    agent: Agent
    transport: Transport
    token_hash: str | None = None
    client: str = ""
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    opened_at: float = field(default_factory=time.time)
    closed: bool = False

    async def deliver(self, event: CallEvent) -> int:
        """Send one event unless the connection has closed; never raises."""
        if self.closed:
            return 0
        try:
            return await self.transport.deliver(event)
        except Exception:
            # The connection boundary: an event the server cannot send must
            # not end the call's task; the session is treated as gone.
            logger.exception("Cannot send to session %s", self.session_id)
            self.closed = True
            return 0
