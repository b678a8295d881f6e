"""Random frames never drop a session nor log an unhandled exception."""

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
from controlplane.asgi import build_application
from tests.bus.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

OPS = ["hello", "list_tools", "call_tool", "cancel", "health", "rotate_token"]
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
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
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
    },
).map(json.dumps)
frames = st.lists(
    st.one_of(structured, json_values.map(json.dumps), st.text(max_size=40)),
    min_size=1,
    max_size=8,
)


def _valid_reply(frame: dict[str, Any]) -> bool:
    op = frame.get("op")
    if op not in REPLY_OPS:
        return False
    if op == "error":
        return frame.get("code") in ERROR_CODES and isinstance(frame["message"], str)
    if op == "call_tool_res" and "error" in frame:
        return frame["error"].get("code") in ERROR_CODES
    return True


async def _exercise(
    gateway: Gateway, token: str, texts: list[str]
) -> list[dict[str, Any]]:
    client = Client(build_application(gateway))
    assert (await client.connect(token))["ok"] is True
    replies: list[dict[str, Any]] = []
    try:
        for n, text in enumerate(texts):
            await client.send_text(text)
            # A cancel of an unknown id is always answered: it marks the end
            # of this frame's immediate replies.
            marker = f"marker-{n}"
            await client.send({"op": "cancel", "request_id": marker})
            while True:
                reply = await client.receive(timeout=5)
                if reply.get("op") == "cancel_res" and reply["request_id"] == marker:
                    break
                replies.append(reply)
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
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(texts=frames)
def test_session__survives_random_frames(
    texts, agent, ws_config, builtin_tools, caplog
) -> None:
    ws_config(WS_CALL_TIMEOUT_SECS=0.2, WS_PROGRESS_INTERVAL_SECS=0.05)
    gateway = build_gateway(claims=bus_app().claims)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        replies = async_to_sync(_exercise)(gateway, agent[1], texts)
    assert all(_valid_reply(reply) for reply in replies), replies
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert async_to_sync(gateway.capacity.global_inflight)() == 0
