"""One call_tool request on its way through the pipeline's checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bus.gateway.registry import Registry, ToolSpec
from bus.gateway.sessions import Session
from bus.gateway.state.results import replay_key, semantic_key
from bus.protocol import CallRequest, canonical_json, normalize_tool_name
from controlplane.config import Config


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


def build_attempt(
    session: Session,
    request: CallRequest,
    received_at: float,
    *,
    config: Config,
    registry: Registry,
) -> Attempt:
    """Resolve the tool (None: unknown or not allowed) and the cache keys."""
    name = normalize_tool_name(request.name, config.TOOL_NAME_SUFFIXES)
    tool = registry.tools.get(name)
    if tool is not None and not session.agent.may_call(name):
        tool = None
    attempt = Attempt(
        session=session,
        request_id=request.request_id or uuid.uuid4().hex,
        asked=request.name,
        name=name,
        arguments=request.arguments,
        received_at=received_at,
        config=config,
        tool=tool,
    )
    if tool is not None:
        agent_key = session.agent.key
        attempt.replay = replay_key(agent_key, attempt.request_id)
        # Tools with side effects are never served from the semantic cache nor
        # coalesced: they get no semantic key.
        if tool.idempotent:
            arguments_text = canonical_json(request.arguments)
            attempt.semantic = semantic_key(agent_key, name, arguments_text)
    return attempt
