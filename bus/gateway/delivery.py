"""How a finished result reaches the agent: inline, a claim check, or an error.

Decided in one place, once per result: the threshold, the bus switch, the
breaker's fallback, and whether an inline result fits a frame. The size cap
(PAYLOAD_TOO_LARGE) is checked once on every path: by the store's service for
a result it stores, here for one that goes inline. A result is never silently
dropped.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any

from django.urls import reverse

from bus.exceptions import BusError, BusUnavailableError, PayloadTooLargeError
from bus.protocol import ErrorCode, Op, dumps, encode_frame, error_body
from bus.store import metrics as bus_metrics
from bus.store.claims import ClaimStore
from bus.store.services import Producer, StoredMessage, payload_size_check
from controlplane.config import Config

logger = logging.getLogger(__name__)

PREVIEW_CHARS = 512
# Room for call_tool_res's own fields (op, request_id) around the outputs and
# the joined text; results whose estimate comes near the limit are measured.
FRAME_OVERHEAD_BYTES = 1024


async def deliver_result(
    *,
    outputs: list[dict[str, Any]],
    producer: Producer,
    claims: ClaimStore,
    config: Config,
) -> dict[str, Any]:
    """Return the answer body for a tool's outputs (outputs, bus, text or error).

    Above MESSAGE_BUS_THRESHOLD_BYTES, or below it when its frame would not
    fit WS_MAX_MESSAGE_BYTES, the result goes to the bus and the body carries
    its claim check; otherwise, or when the bus cannot store it and the
    fallback allows, it goes inline if its frame fits WS_MAX_MESSAGE_BYTES.
    """
    payload = dumps({"outputs": outputs}).encode()
    if len(payload) <= config.MESSAGE_BUS_THRESHOLD_BYTES:
        body = _inline(
            outputs, payload, config, reason="", request_id=producer.request_id
        )
        # A frame limit set below the threshold (the `text` field doubles a
        # frame) would refuse results the bus carries: those go to the bus.
        if not (_too_big_inline(body) and config.MESSAGE_BUS_ENABLED):
            return body
    elif not config.MESSAGE_BUS_ENABLED:
        # The operator turned the bus off: inline is the normal path, not a fallback.
        return _inline(
            outputs,
            payload,
            config,
            reason="the message bus is disabled",
            request_id=producer.request_id,
        )
    try:
        stored = await claims.store(payload=payload, producer=producer, config=config)
    except BusUnavailableError as exc:
        return _fallback(outputs, payload, config, exc, producer)
    except BusError as exc:
        # Too large, or refused by the database for this result (the store
        # logged why): this call's error, and no fallback would help.
        return error_body(exc.code, str(exc))
    return _claim_body(stored, outputs, producer, config)


def _too_big_inline(body: dict[str, Any]) -> bool:
    error = body.get("error")
    return error is not None and error["code"] == ErrorCode.BUS_UNAVAILABLE


def inline_frame_fits(
    body: dict[str, Any], payload: bytes, config: Config, *, request_id: str
) -> bool:
    """Return whether an inline answer's frame fits WS_MAX_MESSAGE_BYTES."""
    # The joined text is never longer than the outputs it comes from, so twice
    # the payload bounds the frame; only results near the limit are encoded.
    if 2 * len(payload) + FRAME_OVERHEAD_BYTES <= config.WS_MAX_MESSAGE_BYTES:
        return True
    frame = {"op": Op.CALL_TOOL_RES, "request_id": request_id, **body}
    return len(encode_frame(frame).encode()) <= config.WS_MAX_MESSAGE_BYTES


def _inline(
    outputs: list[dict[str, Any]],
    payload: bytes,
    config: Config,
    *,
    reason: str,
    request_id: str,
) -> dict[str, Any]:
    try:
        payload_size_check(len(payload), config)
    except PayloadTooLargeError as exc:
        return error_body(exc.code, str(exc))
    body = _with_text({"outputs": outputs}, config)
    if inline_frame_fits(body, payload, config, request_id=request_id):
        return body
    why = f"{reason} and the result" if reason else "the result"
    return error_body(
        ErrorCode.BUS_UNAVAILABLE,
        f"{why} ({len(payload)} bytes"
        f"{', sent twice with the text field' if config.WS_COMPAT_TEXT else ''}) "
        f"does not fit a {config.WS_MAX_MESSAGE_BYTES}-byte frame",
    )


def _fallback(
    outputs: list[dict[str, Any]],
    payload: bytes,
    config: Config,
    exc: BusUnavailableError,
    producer: Producer,
) -> dict[str, Any]:
    if not config.FALLBACK_TO_WEBSOCKET:
        bus_metrics.fallback_total.labels(outcome="unavailable").inc()
        outcome = "inline fallback is off: BUS_UNAVAILABLE"
        body = error_body(
            ErrorCode.BUS_UNAVAILABLE,
            "the message bus is unavailable and inline fallback is off",
        )
    else:
        body = _inline(
            outputs,
            payload,
            config,
            reason="the message bus is unavailable",
            request_id=producer.request_id,
        )
        if "error" in body:
            bus_metrics.fallback_total.labels(outcome="unavailable").inc()
            outcome = f"not sent inline either: {body['error']['code']}"
        else:
            bus_metrics.fallback_total.labels(outcome="inline").inc()
            outcome = "sending it inline"
    logger.warning(
        "Cannot store a %d-byte result of %s on the bus (%s); %s",
        len(payload),
        producer.tool_name,
        exc,
        outcome,
    )
    return body


def _claim_body(
    stored: StoredMessage,
    outputs: list[dict[str, Any]],
    producer: Producer,
    config: Config,
) -> dict[str, Any]:
    # The EX-AI daemon's reference format, kept in `outputs` for old clients.
    legacy = {
        "message_bus_transaction_id": stored.transaction_id,
        "payload_size_bytes": stored.size_bytes,
        "retrieval_required": True,
        "session_id": producer.session_id,
        "tool_name": producer.tool_name,
    }
    body = {
        "bus": {
            "transaction_id": stored.transaction_id,
            "size_bytes": stored.size_bytes,
            "compressed_size_bytes": stored.compressed_size_bytes,
            "compression": stored.compression,
            "checksum": f"sha256:{stored.checksum}",
            "expires_at": stored.expires_at.astimezone(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "fetch_url": reverse("bus:message", args=[stored.transaction_id]),
            "preview": first_text(outputs)[:PREVIEW_CHARS],
        },
        "outputs": [
            {
                "type": "text",
                "text": json.dumps(legacy, sort_keys=True, separators=(",", ":")),
            }
        ],
    }
    return _with_text(body, config)


def _with_text(body: dict[str, Any], config: Config) -> dict[str, Any]:
    if config.WS_COMPAT_TEXT:
        body["text"] = joined_text(body["outputs"])
    return body


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


def bus_status(claims: ClaimStore, config: Config) -> dict[str, Any]:
    """Return the bus part of the health op: enabled flag and breaker state."""
    return {"enabled": config.MESSAGE_BUS_ENABLED, "breaker": claims.breaker_state}
