"""One call_tool request on its way through the pipeline's checks, and the
answers those checks give."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bus.gateway.events import OK, Answer
from bus.gateway.registry import Registry, ToolSpec
from bus.gateway.sessions import Session
from bus.gateway.state.capacity import Limits, Rejection, lease_secs
from bus.gateway.state.inflight import InFlightCall
from bus.gateway.state.results import (
    Cached,
    Retention,
    call_fingerprint,
    replay_key,
    semantic_key,
)
from bus.protocol import (
    CallRequest,
    ErrorCode,
    Scope,
    canonical_json,
    error_body,
    normalize_tool_name,
)
from controlplane.config import Config

Body = dict[str, Any]

# Failures worth replaying to a client that resends the same request_id; a
# cancelled call is not: resending it means "try again".
REPLAYED_FAILURES = {ErrorCode.TIMEOUT, ErrorCode.EXEC_ERROR}


@dataclass(eq=False, slots=True)
class Attempt:
    """One call_tool request on its way through the checks."""

    session: Session
    request_id: str
    asked: str
    name: str
    arguments: dict[str, Any]
    received_at: float
    config: Config
    tool: ToolSpec | None
    replay: str = ""
    semantic: str | None = None
    fingerprint: str = ""

    @property
    def agent_key(self) -> str:
        """Return the key of the agent this request is for."""
        return self.session.agent.key

    def in_flight_entry(self, worker: str = "") -> InFlightCall:
        """Return the entry that registers this request as a call in flight."""
        return InFlightCall(
            agent_key=self.agent_key,
            request_id=self.request_id,
            tool_name=self.tool.name,
            semantic=self.semantic,
            fingerprint=self.fingerprint,
            worker=worker,
            lease_secs=lease_secs(self.config.WS_CALL_TIMEOUT_SECS),
        )

    def limits(self) -> Limits:
        """Return the capacity scopes this request needs a slot in."""
        config = self.config
        return Limits(
            global_max=config.WS_GLOBAL_MAX_INFLIGHT,
            provider=self.tool.provider,
            provider_max=self.tool.provider_max_inflight,
            session_id=self.session.session_id,
            session_max=config.WS_SESSION_MAX_INFLIGHT,
            retry_floor=config.WS_RETRY_AFTER_SECS,
            lease_secs=lease_secs(config.WS_CALL_TIMEOUT_SECS),
            agent=self.session.agent.name,
            tool=self.tool.name,
        )


def build_attempt(
    session: Session,
    request: CallRequest,
    received_at: float,
    *,
    config: Config,
    registry: Registry,
) -> Attempt:
    """Resolve the tool (None: unknown or not allowed), fingerprint and cache keys."""
    name = normalize_tool_name(request.name, config.TOOL_NAME_SUFFIXES)
    tool = registry.tools.get(name)
    if tool is not None and not session.agent.may_call(name):
        tool = None
    attempt = Attempt(
        session=session,
        # Only a missing request_id is generated: "" is a string the client chose.
        request_id=uuid.uuid4().hex
        if request.request_id is None
        else request.request_id,
        asked=request.name,
        name=name,
        arguments=request.arguments,
        received_at=received_at,
        config=config,
        tool=tool,
    )
    if tool is not None:
        attempt.fingerprint = call_fingerprint(name, canonical_json(request.arguments))
        attempt.replay = replay_key(attempt.agent_key, attempt.request_id)
        # Tools with side effects are never served from the semantic cache nor
        # coalesced: they get no semantic key.
        if tool.idempotent:
            attempt.semantic = semantic_key(attempt.agent_key, attempt.fingerprint)
    return attempt


def retention(config: Config) -> Retention:
    """Return how long and how much of an agent's answers the cache keeps."""
    return Retention(
        ttl=config.WS_RESULT_TTL_SECS,
        max_entries=config.WS_RESULT_CACHE_MAX_PER_AGENT,
        max_bytes=config.WS_RESULT_CACHE_MAX_BYTES_PER_AGENT,
    )


def reusable(answer: Answer) -> bool:
    """Return whether another request with the same arguments may reuse an answer.

    A claim check is released by its agent's bus_ack, after which reusing it
    would hand out a reference to nothing (NOT_FOUND): only its own request
    may replay it. Failures are never reused.
    """
    return answer.outcome == OK and "bus" not in answer.body


def remembered(answer: Answer) -> bool:
    """Return whether an answer of a call that ran is kept for replay."""
    return answer.outcome == OK or answer.outcome in REPLAYED_FAILURES


# The answers of the checks that refuse a request


def replay_or_conflict(attempt: Attempt, replayed: Cached) -> Body:
    """Return the cached answer, or REQUEST_ID_CONFLICT if it was for another call."""
    if replayed.fingerprint == attempt.fingerprint:
        return replayed.body
    return request_id_conflict()


def request_id_conflict() -> Body:
    """Return the answer to a request id reused for another tool or arguments."""
    return error_body(
        ErrorCode.REQUEST_ID_CONFLICT,
        "request_id was already used for a call with another tool or other "
        "arguments; send this call with a new request_id",
    )


def unknown_tool(attempt: Attempt) -> Body:
    """Return the answer to a tool that does not exist or is not allowed."""
    return error_body(ErrorCode.TOOL_NOT_FOUND, f"Unknown tool: {attempt.asked}")


def invalid_arguments(attempt: Attempt, problem: str) -> Body:
    """Return the answer to arguments that break the tool's schema."""
    message = f"invalid arguments for {attempt.tool.name}: {problem}"
    return error_body(ErrorCode.INVALID_ARGUMENTS, message)


def duplicate_of(holder: InFlightCall) -> Body:
    """Return the answer to a call the same as one in flight."""
    return error_body(
        ErrorCode.DUPLICATE,
        f"the same call is in flight as request {holder.request_id}",
        original_request_id=holder.request_id,
    )


def over_capacity(rejection: Rejection) -> Body:
    """Return the answer to a call refused a slot."""
    return error_body(
        ErrorCode.OVER_CAPACITY,
        f"{rejection.scope} concurrency limit reached; retry soon",
        retry_after=rejection.retry_after,
        scope=rejection.scope,
    )


def state_unreachable(config: Config) -> Body:
    """Return the answer to a call that cannot reach the shared state (Redis).

    OVER_CAPACITY, so that clients retry it as they retry a full deployment;
    the message says why.
    """
    return error_body(
        ErrorCode.OVER_CAPACITY,
        "unavailable: shared state (Redis) cannot be reached; retry soon",
        retry_after=config.WS_RETRY_AFTER_SECS,
        scope=Scope.GLOBAL,
    )


def worker_lost() -> Body:
    """Return the answer to sessions that waited for a call whose worker died."""
    return error_body(
        ErrorCode.EXEC_ERROR,
        "the worker running this call was lost; resend to run it again",
    )
