"""What every tool kind shares: its errors and how a return value becomes outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from bus.protocol import ErrorCode


class ToolError(Exception):
    """A tool failed; the message is safe to show to the agent.

    The call's error code is EXEC_ERROR unless the tool names the protocol
    code that says what went wrong, e.g.
    ``raise ToolError("too big", code=ErrorCode.PAYLOAD_TOO_LARGE)``.
    """

    def __init__(self, message: str, *, code: str = ErrorCode.EXEC_ERROR) -> None:
        super().__init__(message)
        self.code = code


class ToolTimeout(Exception):
    """A tool gave up waiting on its own (e.g. its HTTP endpoint); TIMEOUT."""


# Sends a heartbeat of the running call now, with a note (an upstream MCP
# server's progress, say). `execution.execute` sets it in the tool's own task;
# a runner reads it there, before handing it to code that runs elsewhere.
heartbeat: ContextVar[Callable[[str], None] | None] = ContextVar(
    "heartbeat", default=None
)


def _is_output(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("type"), str)


def to_outputs(value: Any) -> list[dict[str, Any]]:
    """Turn what a tool returned into outputs; nothing yields one empty text."""
    if isinstance(value, dict) and isinstance(value.get("outputs"), list):
        value = value["outputs"]
    if value is None or value == [] or value == "":
        return [{"type": "text", "text": ""}]
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, list) and all(_is_output(item) for item in value):
        return value
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        # Not JSON (e.g. a custom object): its text form is the best output.
        text = str(value)
    return [{"type": "text", "text": text}]
