"""Who calls and what is in flight: agents, sessions, calls, and their timer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bus.capacity import Slot
from bus.protocol import Op, encode_frame
from bus.registry import ToolSpec

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


@dataclass(eq=False)
class Session:
    """One authenticated connection."""

    agent: Agent
    transport: Callable[[str], Awaitable[None]]
    closer: Callable[[int], Awaitable[None]] | None = None
    token_hash: str | None = None
    client: str = ""
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    opened_at: float = field(default_factory=time.time)
    closed: bool = False

    async def send_text(self, text: str) -> None:
        """Send one frame unless the connection has closed; never raises."""
        if self.closed:
            return
        try:
            await self.transport(text)
        except Exception:
            # The connection boundary: a frame the server cannot send must not
            # end the call's task; the session is treated as gone.
            logger.exception("Cannot send a frame to session %s", self.session_id)
            self.closed = True

    async def send(self, frame: dict[str, Any]) -> int:
        """Send one frame and return its size."""
        text = encode_frame(frame)
        await self.send_text(text)
        return len(text)


@dataclass(eq=False)
class Call:
    """An accepted call: its slot, tool task, and the sessions waiting for it."""

    request_id: str
    tool: ToolSpec
    agent: Agent
    origin: Session
    replay: str
    semantic: str | None
    subscribers: dict[str, Session]
    slot: Slot | None = None
    task: asyncio.Task[None] | None = None
    tool_running: bool = False
    answered: bool = False
    cancel_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A call that ended without outputs."""

    code: str
    message: str


def progress_frame(call: Call, note: str | None = None) -> dict[str, Any]:
    """Build a progress frame for a call."""
    frame = {
        "op": Op.PROGRESS,
        "request_id": call.request_id,
        "name": call.tool.name,
        "t": time.time(),
    }
    if note is not None:
        frame["note"] = note
    return frame


class Watch:
    """One timer per running call: progress every interval, cancel at the deadline."""

    def __init__(self, call: Call, interval: float, timeout: float) -> None:
        self.call, self.interval = call, interval
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.expired = False
        self.sending: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = self.loop.call_at(
            min(self.loop.time() + interval, self.deadline), self._tick
        )

    def _tick(self) -> None:
        now = self.loop.time()
        if now >= self.deadline:
            self.timer = None
            self.expired = True
            if self.call.task is not None:
                self.call.task.cancel()
            return
        self.timer = self.loop.call_at(
            min(now + self.interval, self.deadline), self._tick
        )
        if self.sending is None or self.sending.done():
            self.sending = self.loop.create_task(self._send_progress())

    async def _send_progress(self) -> None:
        # Checked right before sending: no heartbeat may follow the result.
        if self.call.answered:
            return
        text = encode_frame(progress_frame(self.call))
        for session in list(self.call.subscribers.values()):
            await session.send_text(text)

    def stop(self) -> None:
        """Stop the timer; a beat already being sent sees the call answered."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
