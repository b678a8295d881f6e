"""Claim checks for the call pipeline and the consumer: the bus's async seam.

The database and codec work runs in worker threads (not the single
thread-sensitive one, so a 100 MB compression never stalls the other sync
work of the process), each call with a fresh-or-healthy connection and
through the circuit breaker.
"""

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections
from django.urls import reverse

from bus import bus_metrics, services
from bus.breaker import bus_breaker
from bus.exceptions import BusError, BusUnavailableError, PayloadTooLargeError
from controlplane.config import MIB, Config, aget_config
from controlplane.models import AgentToken

logger = logging.getLogger(__name__)

PREVIEW_CHARS = 512
CHUNK_BYTES = 512 * 1024
# Room for call_tool_res's own fields (op, request_id, name) around the outputs.
FRAME_OVERHEAD_BYTES = 4096

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_db_thread(
    fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run sync database work in a worker thread, closing a broken connection."""

    def guarded() -> T:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return await sync_to_async(guarded, thread_sensitive=False)()


async def _through_breaker(
    fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    return await run_in_db_thread(bus_breaker.call, fn, *args, **kwargs)


async def result_offload(
    *,
    result_bytes: bytes,
    first_text: str,
    agent: AgentToken,
    session_id: str,
    tool_name: str,
    provider_name: str,
) -> dict | None:
    """Store a large result and return the call_tool_res fields, or None for inline.

    Raises PayloadTooLargeError over MESSAGE_BUS_MAX_PAYLOAD_MB, and
    BusUnavailableError when the result can be neither stored nor sent inline.
    Whether it fits a frame is estimated conservatively: the result's size
    twice when WS_COMPAT_TEXT repeats the text, plus room for the envelope.
    """
    config = await aget_config()
    size = len(result_bytes)
    if size > config.MESSAGE_BUS_MAX_PAYLOAD_MB * MIB:
        bus_metrics.errors_total.labels(code=PayloadTooLargeError.code).inc()
        raise PayloadTooLargeError(
            f"result of {size} bytes exceeds {config.MESSAGE_BUS_MAX_PAYLOAD_MB} MiB"
        )
    if size <= config.MESSAGE_BUS_THRESHOLD_BYTES:
        return None
    if not config.MESSAGE_BUS_ENABLED:
        # The operator turned the bus off: inline is the normal path, not a fallback.
        _ensure_inline_fits(config, size, reason="the message bus is disabled")
        return None
    try:
        stored = await _through_breaker(
            services.message_store,
            payload=result_bytes,
            agent=agent,
            session_id=session_id,
            tool_name=tool_name,
            provider_name=provider_name,
        )
    except (BusUnavailableError, DatabaseError) as exc:
        return _fallback(config, size, exc, tool_name=tool_name)
    return _claim_fields(
        stored, first_text=first_text, session_id=session_id, tool_name=tool_name
    )


async def fetch_frames(
    *, agent: AgentToken, transaction_id: str
) -> AsyncIterator[dict]:
    """Yield bus_chunk frames then bus_fetch_res, or one bus_fetch_res error frame."""
    try:
        payload = await payload_fetch(agent=agent, transaction_id=transaction_id)
    except BusError as exc:
        yield _error_frame("bus_fetch_res", transaction_id, exc)
        return
    chunks = 0
    for piece in payload.pieces(CHUNK_BYTES):
        yield {
            "op": "bus_chunk",
            "transaction_id": transaction_id,
            "seq": chunks,
            "data": base64.b64encode(piece).decode("ascii"),
        }
        chunks += 1
    yield {
        "op": "bus_fetch_res",
        "transaction_id": transaction_id,
        "chunks": chunks,
        "size_bytes": payload.size_bytes,
        "checksum": f"sha256:{payload.checksum}",
    }


async def ack(*, agent: AgentToken, transaction_id: str) -> dict:
    """Release a claim and return the bus_ack_res frame (ok, or its error)."""
    try:
        await payload_release(agent=agent, transaction_id=transaction_id)
    except BusError as exc:
        return {**_error_frame("bus_ack_res", transaction_id, exc), "ok": False}
    return {"op": "bus_ack_res", "transaction_id": transaction_id, "ok": True}


def breaker_state() -> str:
    """Return the bus circuit breaker's state: closed, open or half_open."""
    return bus_breaker.state


async def payload_fetch(
    *, agent: AgentToken | None, transaction_id: str
) -> services.FetchedPayload:
    """Return the agent's verified payload; raise a BusError (BUS_UNAVAILABLE too)."""
    try:
        return await _through_breaker(
            services.message_fetch, transaction_id=transaction_id, agent=agent
        )
    except DatabaseError as exc:
        logger.warning("Cannot fetch bus message %s: database error", transaction_id)
        raise BusUnavailableError("the message bus database is unavailable") from exc


async def payload_release(*, agent: AgentToken | None, transaction_id: str) -> None:
    """Delete the agent's message now; raise a BusError (BUS_UNAVAILABLE too)."""
    try:
        await _through_breaker(
            services.message_ack, transaction_id=transaction_id, agent=agent
        )
    except DatabaseError as exc:
        logger.warning("Cannot ack bus message %s: database error", transaction_id)
        raise BusUnavailableError("the message bus database is unavailable") from exc


def _inline_frame_bytes(config: Config, size: int) -> int:
    # The compatibility `text` field repeats the text outputs, so count them twice.
    return size * (2 if config.WS_COMPAT_TEXT else 1) + FRAME_OVERHEAD_BYTES


def _ensure_inline_fits(config: Config, size: int, *, reason: str) -> None:
    if _inline_frame_bytes(config, size) > config.WS_MAX_MESSAGE_BYTES:
        bus_metrics.fallback_total.labels(outcome="unavailable").inc()
        raise BusUnavailableError(
            f"{reason} and the result ({size} bytes) is too large to send inline"
        )


def _fallback(config: Config, size: int, exc: Exception, *, tool_name: str) -> None:
    """Send the result inline if allowed and it fits; else raise BusUnavailableError."""
    if not config.FALLBACK_TO_WEBSOCKET:
        bus_metrics.fallback_total.labels(outcome="unavailable").inc()
        logger.warning(
            "Cannot store a %d-byte result of %s on the bus (%s); inline fallback "
            "is off: BUS_UNAVAILABLE",
            size,
            tool_name,
            type(exc).__name__,
        )
        raise BusUnavailableError(
            "the message bus is unavailable and inline fallback is off"
        ) from exc
    try:
        _ensure_inline_fits(config, size, reason="the message bus is unavailable")
    except BusUnavailableError as too_big:
        logger.warning(
            "Cannot store a %d-byte result of %s on the bus (%s) and it does not "
            "fit a frame: BUS_UNAVAILABLE",
            size,
            tool_name,
            type(exc).__name__,
        )
        raise too_big from exc
    bus_metrics.fallback_total.labels(outcome="inline").inc()
    logger.warning(
        "Cannot store a %d-byte result of %s on the bus (%s); sending it inline",
        size,
        tool_name,
        type(exc).__name__,
    )
    return None


def _claim_fields(
    stored: services.StoredMessage, *, first_text: str, session_id: str, tool_name: str
) -> dict:
    legacy = {
        "message_bus_transaction_id": stored.transaction_id,
        "payload_size_bytes": stored.size_bytes,
        "retrieval_required": True,
        "session_id": session_id,
        "tool_name": tool_name,
    }
    return {
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
            "preview": first_text[:PREVIEW_CHARS],
        },
        "outputs": [
            {
                "type": "text",
                "text": json.dumps(legacy, sort_keys=True, separators=(",", ":")),
            }
        ],
    }


def _error_frame(op: str, transaction_id: str, exc: BusError) -> dict:
    return {
        "op": op,
        "transaction_id": transaction_id,
        "error": {"code": exc.code, "message": str(exc)},
    }
