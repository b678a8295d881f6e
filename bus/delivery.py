"""How a finished result reaches the agent, and the bus status the health op reports.

``deliver_result`` gets every successful result serialized exactly as the bus
stores it and decides the frame the agent receives: inline, a claim check on the
message bus (bus.claims), or an error that says why neither was possible.
``bus_status`` is what ``health`` reports about the bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bus import claims
from bus.exceptions import BusError
from bus.protocol import ErrorCode, Op, encode_frame
from controlplane.config import Config
from controlplane.models import AgentToken

# Room for the frame's other fields around the outputs and the joined text.
FRAME_OVERHEAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ResultContext:
    """Who produced a result: what a claim check records besides the payload."""

    request_id: str
    session_id: str
    agent_id: int | None
    agent_name: str
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

    Above MESSAGE_BUS_THRESHOLD_BYTES the result goes to the bus and the frame
    carries its claim check; otherwise, or when the bus cannot store it and the
    fallback allows, it goes inline if the frame fits WS_MAX_MESSAGE_BYTES. Every
    other outcome is an error frame: a result is never silently dropped.
    """
    agent = (
        AgentToken(pk=context.agent_id, name=context.agent_name)
        if context.agent_id is not None
        else None
    )
    try:
        claim = await claims.result_offload(
            result_bytes=payload,
            first_text=first_text(outputs),
            agent=agent,
            session_id=context.session_id,
            tool_name=context.tool_name,
            provider_name=context.provider_name,
        )
    except BusError as exc:
        return _error_frame(context, exc.code, str(exc))
    frame: dict[str, Any] = {
        "op": Op.CALL_TOOL_RES,
        "request_id": context.request_id,
        **(claim or {"outputs": outputs}),
    }
    if config.WS_COMPAT_TEXT:
        frame["text"] = joined_text(frame["outputs"])
    if claim is None and not fits_frame(frame, payload, config):
        return _error_frame(
            context,
            ErrorCode.BUS_UNAVAILABLE,
            f"result of {len(payload)} bytes does not fit a "
            f"{config.WS_MAX_MESSAGE_BYTES}-byte frame and cannot be stored",
        )
    return frame


def _error_frame(context: ResultContext, code: str, message: str) -> dict[str, Any]:
    return {
        "op": Op.CALL_TOOL_RES,
        "request_id": context.request_id,
        "error": {"code": code, "message": message},
    }


def fits_frame(frame: dict[str, Any], payload: bytes, config: Config) -> bool:
    """Return whether a result frame fits WS_MAX_MESSAGE_BYTES."""
    # The joined text is never longer than the outputs it comes from, so twice
    # the payload bounds the frame; only results near the limit are encoded.
    if 2 * len(payload) + FRAME_OVERHEAD_BYTES <= config.WS_MAX_MESSAGE_BYTES:
        return True
    return len(encode_frame(frame).encode()) <= config.WS_MAX_MESSAGE_BYTES


def first_text(outputs: list[dict[str, Any]]) -> str:
    """Return the first text output's text (the claim check's preview source)."""
    for item in outputs:
        if item.get("type") == "text":
            return str(item.get("text", ""))
    return ""


def joined_text(outputs: list[dict[str, Any]]) -> str:
    """Join the text outputs (the `text` compatibility field)."""
    return "\n".join(
        str(item.get("text", "")) for item in outputs if item.get("type") == "text"
    )


def bus_status(config: Config) -> dict[str, Any]:
    """Return the bus part of the health op: enabled flag and breaker state."""
    return {"enabled": config.MESSAGE_BUS_ENABLED, "breaker": claims.breaker_state()}
