"""Random frames never drop a session nor log an unhandled exception.

Besides well-formed JSON, the frames hold what hostile or broken clients send:
NaN and Infinity literals, numbers beyond a double, lone surrogates, nesting
far beyond 128 levels, malformed transaction ids and binary frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.apps import bus_app
from bus.gateway.factory import build_gateway
from bus.gateway.pipeline import Gateway
from bus.protocol import MAX_NESTING_DEPTH
from controlplane.asgi import build_application
from tests.bus.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

OPS = [
    "hello",
    "list_tools",
    "call_tool",
    "cancel",
    "health",
    "rotate_token",
    "bus_fetch",
    "bus_ack",
]
TOOLS = ["echo", "sleep", "generate", "echo_EXAI-WS", "nope", ""]
ERROR_CODES = {
    "TOOL_NOT_FOUND",
    "INVALID_ARGUMENTS",
    "DUPLICATE",
    "OVER_CAPACITY",
    "TIMEOUT",
    "EXEC_ERROR",
    "CANCELLED",
    "PAYLOAD_TOO_LARGE",
    "BUS_UNAVAILABLE",
    "NOT_FOUND",
    "INVALID_JSON",
    "INVALID_MESSAGE",
    "UNKNOWN_OP",
}
REPLY_OPS = {
    "error",
    "call_tool_ack",
    "call_tool_res",
    "progress",
    "list_tools_res",
    "cancel_res",
    "health_res",
    "rotate_token_res",
    "bus_fetch_res",
    "bus_ack_res",
}
NON_JSON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 5000]
# Levels above the arrays of `deep` frames: the frame (1) and arguments (2).
DEEP_BASE = 2

# Text with lone surrogates: json.dumps writes them as \udXXX escapes.
hostile_text = st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
    | st.sampled_from("\x00\n\r\x1b\u2028a"),
    max_size=6,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**64, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | hostile_text, inner, max_size=4)
    ),
    max_leaves=10,
)
arguments = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "text": json_values,
            "seconds": st.one_of(st.floats(0, 0.05), json_values),
            "bytes": st.one_of(st.integers(0, 2000), json_values),
            "seed": json_values,
        },
    ),
)
structured = st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(OPS), json_values)},
    optional={
        "name": st.one_of(st.sampled_from(TOOLS), json_values),
        "request_id": st.one_of(st.sampled_from(["r-1", "r-2"]), json_values),
        "arguments": arguments,
        "token": json_values,
        "old": json_values,
        "new": json_values,
        "transaction_id": st.one_of(
            st.sampled_from(["txn_\x00", "\x00", "txn_" + "0" * 32, "txn_"]),
            json_values,
        ),
        "client": st.fixed_dictionaries({"name": st.one_of(hostile_text, json_values)}),
    },
)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


def _as_frame(value: Any) -> tuple[str, str | None]:
    """Return JSON text and the error it must get (None: any valid reply)."""
    text = json.dumps(value)
    # json.loads joins escaped surrogate pairs; what stays a surrogate is lone.
    lone = _has_surrogate(json.loads(text))
    return text, "INVALID_MESSAGE" if lone else None


def _with_literal(frame: tuple[str, str | None], literal: str) -> tuple[str, str]:
    """Put a literal that is not JSON into a frame's object, as a field."""
    return frame[0][:-1] + f',"x":{literal}}}', "INVALID_JSON"


def _deep(depth: int, closed: bool) -> tuple[str, str | None]:
    text = '{"op":"call_tool","name":"echo","arguments":{"text":' + "[" * depth
    if not closed:
        return text, "INVALID_JSON"
    text += "]" * depth + "}}"
    return text, "INVALID_JSON" if DEEP_BASE + depth > MAX_NESTING_DEPTH else None


def _binary(frame: tuple[str, str | None]) -> tuple[bytes, str | None]:
    try:
        return frame[0].encode("utf-8"), frame[1]
    except UnicodeEncodeError:
        # A raw surrogate in the text: not UTF-8, so not JSON either.
        return frame[0].encode("utf-8", "replace"), None


text_frames = st.one_of(
    structured.map(_as_frame),
    json_values.map(_as_frame),
    st.text(max_size=40).map(lambda text: (text, None)),
    st.builds(
        _with_literal, structured.map(_as_frame), st.sampled_from(NON_JSON_NUMBERS)
    ),
    st.builds(_deep, st.integers(100, 3000), st.booleans()),
)
binary_frames = st.one_of(
    st.binary(max_size=40).map(lambda data: (data, None)), text_frames.map(_binary)
)
frames = st.lists(st.one_of(text_frames, binary_frames), min_size=1, max_size=8)


def _valid_reply(frame: dict[str, Any]) -> bool:
    op = frame.get("op")
    if op not in REPLY_OPS:
        return False
    if op == "error":
        return frame.get("code") in ERROR_CODES and isinstance(frame["message"], str)
    if op in ("call_tool_res", "bus_fetch_res", "bus_ack_res") and "error" in frame:
        return frame["error"].get("code") in ERROR_CODES
    return True


async def _exercise(
    gateway: Gateway, token: str, frames: list[tuple[str | bytes, str | None]]
) -> list[dict[str, Any]]:
    client = Client(build_application(gateway))
    assert (await client.connect(token))["ok"] is True
    replies: list[dict[str, Any]] = []
    try:
        for n, (payload, refused_with) in enumerate(frames):
            kind = "bytes" if isinstance(payload, bytes) else "text"
            await client.comm.send_input({"type": "websocket.receive", kind: payload})
            # A cancel of an unknown id is always answered: it marks the end
            # of this frame's immediate replies.
            marker = f"marker-{n}"
            await client.send({"op": "cancel", "request_id": marker})
            immediate = []
            while True:
                reply = await client.receive(timeout=5)
                if reply.get("op") == "cancel_res" and reply["request_id"] == marker:
                    break
                immediate.append(reply)
            if refused_with is not None:
                assert [(r["op"], r.get("code")) for r in immediate] == [
                    ("error", refused_with)
                ], (payload[:200], immediate)
            replies.extend(immediate)
        if gateway.tasks:
            await asyncio.wait(set(gateway.tasks), timeout=5)
        while not await client.comm.receive_nothing(0.02):
            replies.append(await client.receive())
        await client.send({"op": "list_tools"})
        assert (await client.receive())["op"] == "list_tools_res"
    finally:
        await client.close()
    return replies


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sent=frames)
def test_session__survives_random_frames(
    sent, agent, ws_config, builtin_tools, caplog
) -> None:
    """Every frame is answered by the protocol; bad input by its error code."""
    ws_config(WS_CALL_TIMEOUT_SECS=0.2, WS_PROGRESS_INTERVAL_SECS=0.05)
    gateway = build_gateway(claims=bus_app().claims)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        replies = async_to_sync(_exercise)(gateway, agent[1], sent)
    assert all(_valid_reply(reply) for reply in replies), replies
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert async_to_sync(gateway.capacity.global_inflight)() == 0
