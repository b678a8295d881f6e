"""Running an accepted call: its tool task, heartbeats, timeout and cancel,
and the body of its answer (inline or a claim check)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from bus.gateway.attempt import remembered, retention, reusable
from bus.gateway.delivery import deliver_result
from bus.gateway.events import Answer, Progress
from bus.gateway.registry import ToolSpec
from bus.gateway.sessions import Agent, Session
from bus.gateway.state.capacity import Slot
from bus.gateway.state.completion import Remembered
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.results import Cached
from bus.gateway.tools import ToolError, ToolTimeout, run_tool, to_outputs
from bus.gateway.tools.base import heartbeat
from bus.protocol import ErrorCode, error_body
from bus.store.claims import ClaimStore
from bus.store.services import Producer
from controlplane.config import Config

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Call:
    """An accepted call in this process: its slot, task, and who waits for it."""

    request_id: str
    tool: ToolSpec
    agent: Agent
    origin: Session
    entry: InFlightCall
    replay: str
    semantic: str | None
    subscribers: dict[str, Session]
    received_at: float
    slot: Slot | None = None
    task: asyncio.Task[None] | None = None
    tool_running: bool = False
    answered: bool = False
    cancel_reason: str | None = None

    def progress(self, note: str | None = None) -> Progress:
        """Return a progress event of this call."""
        return Progress(self.request_id, self.tool.name, time.time(), note)

    def producer(self) -> Producer:
        """Return who produced this call's result, as a stored message records it."""
        return Producer(
            agent_id=self.agent.id,
            agent_name=self.agent.name,
            session_id=self.origin.session_id,
            request_id=self.request_id,
            tool_name=self.tool.name,
            provider_name=self.tool.provider,
        )

    def cancel(self, reason: str) -> None:
        """Cancel the tool if it runs; once it has returned, the result stands."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.tool_running and self.task is not None:
            self.task.cancel()


@dataclass(frozen=True, slots=True)
class Failure:
    """A call that ended without outputs."""

    code: str
    message: str


class Watch:
    """One timer per running call: progress every interval, cancel at the deadline."""

    def __init__(self, call: Call, interval: float, timeout: float) -> None:
        self.call, self.interval = call, interval
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.expired = False
        self.noted_at = -interval
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

    def beat(self, note: str) -> None:
        """Send a heartbeat now with the tool's note, at most one per interval."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self.loop:
            # A sync tool reports from its worker thread: hand it to the loop.
            self.loop.call_soon_threadsafe(self._beat, note)
            return
        self._beat(note)

    def _beat(self, note: str) -> None:
        # A tool may report progress far more often than agents want frames:
        # the others are dropped, as is one that comes while a beat is sent.
        now = self.loop.time()
        if now - self.noted_at < self.interval:
            return
        if self.sending is None or self.sending.done():
            self.noted_at = now
            self.sending = self.loop.create_task(self._send_progress(note))

    async def _send_progress(self, note: str | None = None) -> None:
        # Checked right before sending: no heartbeat may follow the result.
        if self.call.answered:
            return
        event = self.call.progress(note)
        for session in list(self.call.subscribers.values()):
            await session.deliver(event)

    def stop(self) -> None:
        """Stop the timer; a beat already being sent sees the call answered."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


async def execute(
    call: Call, arguments: dict[str, Any], *, timeout: float, interval: float
) -> list[dict[str, Any]] | Failure:
    """Run the call's tool in this task with heartbeats; return outputs or why not.

    The tool runs in the call's own task (no extra task per call): cancel and
    the timeout interrupt it by cancelling that task while tool_running.
    """
    if call.cancel_reason is not None:
        return Failure(ErrorCode.CANCELLED, call.cancel_reason)
    watch = Watch(call, interval, timeout)
    beats = heartbeat.set(watch.beat)
    call.tool_running = True
    try:
        value = await run_tool(call.tool, arguments, timeout)
    except asyncio.CancelledError:
        if watch.expired:
            asyncio.current_task().uncancel()
            return Failure(
                ErrorCode.TIMEOUT,
                f"{call.tool.name} did not finish within {timeout:g}s",
            )
        if call.cancel_reason is None:
            raise
        asyncio.current_task().uncancel()
        return Failure(ErrorCode.CANCELLED, call.cancel_reason)
    except ToolTimeout as error:
        return Failure(ErrorCode.TIMEOUT, str(error))
    except Exception as error:  # noqa: BLE001  (the tool boundary: any failure
        # of the tool's own code is its call's EXEC_ERROR, logged, not ours)
        return _tool_failure(call, error)
    finally:
        call.tool_running = False
        heartbeat.reset(beats)
        watch.stop()
    return to_outputs(value)


async def outcome(
    call: Call,
    arguments: dict[str, Any],
    *,
    timeout: float,
    config: Config,
    claims: ClaimStore,
) -> dict[str, Any]:
    """Run an accepted call and return its answer's body (inline or a claim check)."""
    result = await execute(
        call,
        arguments,
        timeout=timeout,
        interval=config.WS_PROGRESS_INTERVAL_SECS,
    )
    if isinstance(result, Failure):
        return error_body(result.code, result.message)
    return await deliver_result(
        outputs=result, producer=call.producer(), claims=claims, config=config
    )


def remembered_of(call: Call, answer: Answer, config: Config) -> Remembered | None:
    """Return what to cache of a call's answer, or None when the protocol keeps none."""
    if not remembered(answer):
        return None
    return Remembered(
        cached=Cached(fingerprint=call.entry.fingerprint, body=answer.body),
        agent=call.entry.agent_key,
        replay=call.replay,
        semantic=call.semantic if reusable(answer) else None,
        retention=retention(config),
    )


def _tool_failure(call: Call, error: Exception) -> Failure:
    if isinstance(error, ToolError):
        return Failure(error.code, str(error) or type(error).__name__)
    logger.warning(
        "Tool %s raised %s", call.tool.name, type(error).__name__, exc_info=error
    )
    return Failure(ErrorCode.EXEC_ERROR, str(error) or type(error).__name__)
