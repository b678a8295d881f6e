"""The frames of the WebSocket transport: pipeline events and replies as JSON.

Pure functions of values (no I/O), so the consumer only parses, calls and sends.
"""

from __future__ import annotations

from typing import Any

from bus.exceptions import BusError
from bus.gateway.events import Answer, CallEvent, Progress
from bus.gateway.sessions import Agent
from bus.protocol import PROTOCOL_VERSION, SERVER_VERSION, Op, error_body
from controlplane.config import Config
from controlplane.models import AgentToken

CLIENT_LABEL_CHARS = 100


def whole(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def agent_of(row: AgentToken) -> Agent:
    return Agent(
        key=f"a{row.pk}",
        id=row.pk,
        name=row.name,
        allowed_tools=frozenset(row.allowed_tools or ()),
    )


def client_label(client: Any) -> str:
    if not isinstance(client, dict):
        return ""
    parts = (client.get("name"), client.get("version"))
    return " ".join(str(part) for part in parts if isinstance(part, str | int))[
        :CLIENT_LABEL_CHARS
    ]


def event_frame(event: CallEvent) -> dict[str, Any]:
    """Return the protocol frame of a pipeline event."""
    if isinstance(event, Answer):
        frame = {"op": Op.CALL_TOOL_RES, "request_id": event.request_id, **event.body}
        if event.cached:
            frame["cached"] = True
        return frame
    if isinstance(event, Progress):
        frame = {
            "op": Op.PROGRESS,
            "request_id": event.request_id,
            "name": event.name,
            "t": event.t,
        }
        if event.note is not None:
            frame["note"] = event.note
        return frame
    return {
        "op": Op.CALL_TOOL_ACK,
        "request_id": event.request_id,
        "accepted": True,
        "timeout": whole(event.timeout),
        "name": event.name,
    }


def bus_error(op: str, transaction_id: str, exc: BusError) -> dict[str, Any]:
    return {
        "op": op,
        "transaction_id": transaction_id,
        **error_body(exc.code, str(exc)),
    }


def hello_ack(session_id: str, config: Config) -> dict[str, Any]:
    """Return the hello_ack of an accepted hello, with the limits that apply."""
    return {
        "op": Op.HELLO_ACK,
        "ok": True,
        "session_id": session_id,
        "protocol": PROTOCOL_VERSION,
        "server": {"version": SERVER_VERSION},
        "limits": {
            "max_message_bytes": config.WS_MAX_MESSAGE_BYTES,
            "bus_threshold_bytes": config.MESSAGE_BUS_THRESHOLD_BYTES,
            "session_max_inflight": config.WS_SESSION_MAX_INFLIGHT,
            "call_timeout_secs": whole(config.WS_CALL_TIMEOUT_SECS),
        },
    }
