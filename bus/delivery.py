"""How a finished result reaches the agent, and the bus status the health op reports.

These two functions are the seam to the message bus: ``deliver_result`` gets
every successful result serialized exactly as the bus would store it, and
decides the frame the agent receives (inline here); ``bus_status`` is what
``health`` reports about the bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bus.protocol import Op
from controlplane.config import Config


@dataclass(frozen=True, slots=True)
class ResultContext:
    """Who produced a result: what a claim check records besides the payload."""

    request_id: str
    session_id: str
    agent_id: int | None
    tool_name: str
    provider_name: str


async def deliver_result(
    *,
    payload: bytes,
    outputs: list[dict[str, Any]],
    context: ResultContext,
    config: Config,
) -> dict[str, Any]:
    """Return the call_tool_res frame for a result; `payload` is {"outputs": [...]}."""
    frame: dict[str, Any] = {
        "op": Op.CALL_TOOL_RES,
        "request_id": context.request_id,
        "outputs": outputs,
    }
    if config.WS_COMPAT_TEXT:
        frame["text"] = joined_text(outputs)
    return frame


def joined_text(outputs: list[dict[str, Any]]) -> str:
    """Join the text outputs (the `text` compatibility field)."""
    return "\n".join(
        str(item.get("text", "")) for item in outputs if item.get("type") == "text"
    )


def bus_status(config: Config) -> dict[str, Any]:
    """Return the bus part of the health op: enabled flag and breaker state."""
    return {"enabled": config.MESSAGE_BUS_ENABLED, "breaker": "closed"}
