"""A call's answers going out, each with its call record.

One answer per request (PROTOCOL.md): a refused or replayed request gets its
answer from the checks at once; an accepted call's answer goes to every
session that waits for it. Either way one record is written (JSONL metrics
and the call history).
"""

from __future__ import annotations

from typing import Any

from bus.gateway import metrics
from bus.gateway.attempt import Attempt
from bus.gateway.call_history import CallHistory
from bus.gateway.events import Answer
from bus.gateway.execution import Call
from controlplane.config import Config


async def answer_attempt(
    attempt: Attempt,
    body: dict[str, Any],
    *,
    call_log: metrics.CallLog,
    call_history: CallHistory,
    cached: bool = False,
    replay: bool = False,
) -> None:
    """Answer a request from the checks (refused, replayed, reused) and record it."""
    answer = Answer(attempt.request_id, body, cached=cached)
    size = await attempt.session.deliver(answer)
    record = metrics.CallRecord.of(
        attempt.session,
        attempt.tool,
        attempt.name,
        answer,
        attempt.received_at,
        size,
        replay=replay,
    )
    metrics.record_call(attempt.config, call_log, call_history, record)


async def answer_call(
    call: Call,
    answer: Answer,
    config: Config,
    *,
    call_log: metrics.CallLog,
    call_history: CallHistory,
) -> None:
    """Deliver an accepted call's answer to every session waiting; record it once."""
    call.answered = True
    size = 0
    for session in list(call.subscribers.values()):
        size = max(size, await session.deliver(answer))
    record = metrics.CallRecord.of(
        call.origin, call.tool, "", answer, call.received_at, size
    )
    metrics.record_call(config, call_log, call_history, record)
