"""How a finished result reaches the agent, and the bus status the health op reports.

These two functions are the seam to the message bus: ``deliver_result`` gets
every successful result serialized exactly as the bus would store it, and
decides the frame the agent receives (inline here); ``bus_status`` is what
``health`` reports about the bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bus.protocol import ErrorCode, Op, encode_frame
from controlplane.config import Config

# Room for the frame's other fields around the outputs and the joined text.
FRAME_OVERHEAD_BYTES = 1024


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
    """Return the call_tool_res frame for a result; `payload` is {"outputs": [...]}.

    Inline when the frame fits WS_MAX_MESSAGE_BYTES (servers refuse to send
    larger ones), else BUS_UNAVAILABLE: a result is never silently dropped.
    """
    frame: dict[str, Any] = {
        "op": Op.CALL_TOOL_RES,
        "request_id": context.request_id,
        "outputs": outputs,
    }
    if config.WS_COMPAT_TEXT:
        frame["text"] = joined_text(outputs)
    if not fits_frame(frame, payload, config):
        return {
            "op": Op.CALL_TOOL_RES,
            "request_id": context.request_id,
            "error": {
                "code": ErrorCode.BUS_UNAVAILABLE,
                "message": f"result of {len(payload)} bytes does not fit a "
                f"{config.WS_MAX_MESSAGE_BYTES}-byte frame and cannot be stored",
            },
        }
    return frame


def fits_frame(frame: dict[str, Any], payload: bytes, config: Config) -> bool:
    """Return whether a result frame fits WS_MAX_MESSAGE_BYTES."""
    # The joined text is never longer than the outputs it comes from, so twice
    # the payload bounds the frame; only results near the limit are encoded.
    if 2 * len(payload) + FRAME_OVERHEAD_BYTES <= config.WS_MAX_MESSAGE_BYTES:
        return True
    return len(encode_frame(frame).encode()) <= config.WS_MAX_MESSAGE_BYTES


def joined_text(outputs: list[dict[str, Any]]) -> str:
    """Join the text outputs (the `text` compatibility field)."""
    return "\n".join(
        str(item.get("text", "")) for item in outputs if item.get("type") == "text"
    )


def bus_status(config: Config) -> dict[str, Any]:
    """Return the bus part of the health op: enabled flag and breaker state."""
    return {"enabled": config.MESSAGE_BUS_ENABLED, "breaker": "closed"}
