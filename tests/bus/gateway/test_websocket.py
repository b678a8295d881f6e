"""Every PROTOCOL.md path through the routed application with WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from bus.gateway.worker import worker_id
from controlplane.config import aget_config
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


async def _first_frame(application, text: str) -> tuple[dict | None, dict]:
    """Open a raw connection, send one frame, return the reply and the close."""
    comm = WebsocketCommunicator(application, "/ws/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=text)
    reply = await comm.receive_json_from()
    closed = await comm.receive_output()
    await comm.disconnect()
    return reply, closed


# Handshake


async def test_hello__not_json_object_closes_4000(ws_application, gateway) -> None:
    for text in ("not json", "[1, 2]", '"hello"'):
        reply, closed = await _first_frame(ws_application, text)
        assert reply == {"op": "hello_ack", "ok": False, "error": "invalid_hello"}
        assert closed == {"type": "websocket.close", "code": 4000}


@pytest.mark.parametrize(
    "text",
    [
        '{"op":"hello","token":"\\ud800"}',
        '{"op":"hello","token":"TOKEN","client":{"name":"\\udfff"}}',
        '{"op":"hello","token":"TOKEN","\\ud800":1}',
        '{"op":"hello","token":"TOKEN","client":{"version":NaN}}',
        '{"op":"hello","token":"TOKEN","x":-Infinity}',
        '{"op":"hello","token":"TOKEN","x":' + "[" * 128 + "]" * 128 + "}",
        '{"op":"hello","token":"TOKEN","x":' + "[" * 2000 + "]" * 2000 + "}",
    ],
)
async def test_hello__bad_input_closes_4000_without_a_traceback(
    ws_application, gateway, agent, text, caplog
) -> None:
    """NaN, deep nesting and lone surrogates refuse even a hello with a good token."""
    reply, closed = await _first_frame(ws_application, text.replace("TOKEN", agent[1]))
    assert reply == {"op": "hello_ack", "ok": False, "error": "invalid_hello"}
    assert closed == {"type": "websocket.close", "code": 4000}
    assert [r for r in caplog.records if r.exc_info] == []


async def test_hello__other_op_first_closes_4001(
    ws_application, gateway, agent
) -> None:
    reply, closed = await _first_frame(ws_application, json.dumps({"op": "list_tools"}))
    assert reply == {"op": "hello_ack", "ok": False, "error": "missing_hello"}
    assert closed["code"] == 4001


async def test_hello__timeout_closes_4002_without_a_frame(
    ws_application, gateway, ws_config
) -> None:
    ws_config(WS_HELLO_TIMEOUT_SECS=0.1)
    comm = WebsocketCommunicator(ws_application, "/ws/")
    await comm.connect()
    assert await comm.receive_output(timeout=2) == {
        "type": "websocket.close",
        "code": 4002,
    }
    await comm.disconnect()


async def test_hello__bad_tokens_close_4003(ws_application, gateway, agent) -> None:
    row, _ = agent
    revoked_row, revoked = await database_sync_to_async(agent_token_create)(
        name="revoked"
    )
    await database_sync_to_async(agent_token_revoke)(agent=revoked_row)
    expired_row, expired = await database_sync_to_async(agent_token_create)(
        name="expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    frames = [
        {"op": "hello"},
        {"op": "hello", "token": ""},
        {"op": "hello", "token": 42},
        {"op": "hello", "token": "x" * 43},
        {"op": "hello", "token": revoked},
        {"op": "hello", "token": expired},
    ]
    for frame in frames:
        reply, closed = await _first_frame(ws_application, json.dumps(frame))
        assert reply == {"op": "hello_ack", "ok": False, "error": "unauthorized"}
        assert closed["code"] == 4003


async def test_hello__database_down_closes_1013(
    ws_application, gateway, agent, database_down
) -> None:
    """Tokens cannot be checked while the database is unreachable: try later."""
    # The kept connection is cut; reopening it finds the closed port.
    with database_down:
        reply, closed = await _first_frame(
            ws_application, json.dumps({"op": "hello", "token": agent[1]})
        )
    assert reply == {"op": "hello_ack", "ok": False, "error": "unavailable"}
    assert closed["code"] == 1013


async def test_hello__ack_has_fresh_session_and_limits(connect, agent) -> None:
    client = await connect(agent[1])
    ack = client.hello_ack
    assert ack["ok"] is True and ack["protocol"] == 1
    assert uuid.UUID(ack["session_id"]).version == 4
    assert ack["server"]["version"]
    assert ack["limits"] == {
        "max_message_bytes": 33554432,
        "bus_threshold_bytes": 1048576,
        "session_max_inflight": 8,
        "call_timeout_secs": 180,
    }


async def test_hello__client_session_id_is_ignored(
    ws_application, gateway, agent
) -> None:
    comm = WebsocketCommunicator(ws_application, "/")
    await comm.connect()
    await comm.send_json_to({"op": "hello", "token": agent[1], "session_id": "mine"})
    ack = await comm.receive_json_from()
    assert ack["ok"] is True and ack["session_id"] != "mine"
    await comm.disconnect()


async def test_hello__updates_last_used(connect, agent) -> None:
    await connect(agent[1])
    row = await AgentToken.objects.aget(pk=agent[0].pk)
    assert row.last_used_at is not None


async def test_hello__without_token_when_auth_is_off(connect, ws_config) -> None:
    ws_config(WS_AUTH_REQUIRED=False)
    client = await connect(None)
    frames = await client.call("echo", {"text": "anon"})
    assert frames[-1]["outputs"] == [{"type": "text", "text": "anon"}]


async def test_hello__foreign_browser_origin_is_refused(
    ws_application, gateway
) -> None:
    comm = WebsocketCommunicator(
        ws_application, "/ws/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await comm.connect()
    assert connected is False


# list_tools


async def test_list_tools__enabled_and_allowed_only(connect, make_tool, db) -> None:
    await database_sync_to_async(make_tool)(
        "hidden", "bus.tools.builtin.echo", enabled=False
    )
    _, raw = await database_sync_to_async(agent_token_create)(
        name="limited", allowed_tools=["echo", "hidden"]
    )
    client = await connect(raw)
    await client.send({"op": "list_tools"})
    reply = await client.receive()
    assert reply["op"] == "list_tools_res"
    assert [tool["name"] for tool in reply["tools"]] == ["echo"]
    assert reply["tools"][0]["inputSchema"]["required"] == ["text"]
    assert set(reply["tools"][0]) == {"name", "description", "inputSchema"}


# call_tool: order of checks


async def test_call_tool__ack_then_one_result(connect, agent) -> None:
    client = await connect(agent[1])
    frames = await client.call("echo", {"text": "hi"})
    assert frames == [
        {
            "op": "call_tool_ack",
            "request_id": "r-1",
            "accepted": True,
            "timeout": 180,
            "name": "echo",
        },
        {
            "op": "call_tool_res",
            "request_id": "r-1",
            "outputs": [{"type": "text", "text": "hi"}],
            "text": "hi",
        },
    ]
    assert await client.comm.receive_nothing(0.05)


async def test_call_tool__suffix_is_stripped(connect, agent) -> None:
    client = await connect(agent[1])
    frames = await client.call("echo_EXAI-WS", {"text": "x"})
    assert frames[0]["name"] == "echo"
    assert frames[-1]["text"] == "x"


async def test_call_tool__generates_missing_request_id(connect, agent) -> None:
    client = await connect(agent[1])
    await client.send({"op": "call_tool", "name": "echo", "arguments": {"text": "x"}})
    ack = await client.receive()
    result = await client.receive()
    assert ack["request_id"] and result["request_id"] == ack["request_id"]


async def test_call_tool__empty_request_id_is_the_clients_own(connect, agent) -> None:
    """ "" is a string the client chose: its replies carry it, nothing generated."""
    client = await connect(agent[1])
    frames = await client.call("echo", {"text": "x"}, request_id="")
    assert [frame["request_id"] for frame in frames] == ["", ""]


async def test_call_tool__null_arguments_are_invalid_message(connect, agent) -> None:
    client = await connect(agent[1])
    await client.send(
        {"op": "call_tool", "name": "echo", "request_id": "n", "arguments": None}
    )
    reply = await client.receive()
    assert reply["op"] == "error" and reply["code"] == "INVALID_MESSAGE"
    assert "arguments must be an object" in reply["message"]


async def test_call_tool__unknown_tool(connect, agent) -> None:
    client = await connect(agent[1])
    frames = await client.call("nope")
    assert frames == [
        {
            "op": "call_tool_res",
            "request_id": "r-1",
            "error": {"code": "TOOL_NOT_FOUND", "message": "Unknown tool: nope"},
        }
    ]


async def test_call_tool__tool_outside_allow_list_is_not_found(connect, db) -> None:
    _, raw = await database_sync_to_async(agent_token_create)(
        name="x", allowed_tools=["sleep"]
    )
    client = await connect(raw)
    frames = await client.call("echo", {"text": "x"})
    assert frames[0]["error"]["code"] == "TOOL_NOT_FOUND"


async def test_call_tool__invalid_arguments_name_the_path(connect, agent) -> None:
    client = await connect(agent[1])
    wrong_type = await client.call("echo", {"text": 5})
    missing = await client.call("echo", {}, request_id="r-2")
    assert wrong_type[0]["error"]["code"] == "INVALID_ARGUMENTS"
    assert "$.text" in wrong_type[0]["error"]["message"]
    assert "'text' is a required property" in missing[0]["error"]["message"]


async def test_call_tool__replay_after_reconnect(connect, agent) -> None:
    first = await connect(agent[1])
    original = (await first.call("echo", {"text": "once"}))[-1]
    await first.close()
    second = await connect(agent[1])
    await second.send_call("echo", {"text": "once"}, request_id="r-1")
    assert await second.receive() == original
    assert await second.comm.receive_nothing(0.05)


async def test_call_tool__resend_while_running_gets_note_then_result(
    connect, agent, ws_config
) -> None:
    ws_config(WS_PROGRESS_INTERVAL_SECS=5)
    first = await connect(agent[1])
    await first.start("sleep", {"seconds": 0.3}, request_id="r-9")
    await first.close()
    second = await connect(agent[1])
    await second.send_call("sleep", {"seconds": 0.3}, request_id="r-9")
    note = await second.receive()
    assert note["op"] == "progress" and note["request_id"] == "r-9"
    assert note["name"] == "sleep" and isinstance(note["t"], float)
    assert note["note"] == "duplicate request; still processing"
    result = await second.receive()
    assert result["op"] == "call_tool_res" and result["text"] == "slept 0.3"


async def test_call_tool__semantic_cache_hit_is_marked(connect, agent) -> None:
    client = await connect(agent[1])
    await client.call("echo", {"text": "same"})
    frames = await client.call("echo", {"text": "same"}, request_id="r-2")
    assert frames == [
        {
            "op": "call_tool_res",
            "request_id": "r-2",
            "outputs": [{"type": "text", "text": "same"}],
            "text": "same",
            "cached": True,
        }
    ]


async def test_call_tool__caches_never_cross_agents(
    connect, agent, other_agent
) -> None:
    mine = await connect(agent[1])
    theirs = await connect(other_agent[1])
    await mine.call("echo", {"text": "mine"})
    replay_other = await theirs.call("echo", {"text": "theirs"})
    semantic_other = await theirs.call("echo", {"text": "mine"}, request_id="r-2")
    assert replay_other[-1]["text"] == "theirs"
    assert semantic_other[0]["op"] == "call_tool_ack"
    assert "cached" not in semantic_other[-1]


async def test_call_tool__duplicate_in_flight(connect, agent) -> None:
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 0.2}, request_id="a")
    frames = await client.call("sleep", {"seconds": 0.2}, request_id="b")
    assert frames[-1]["error"]["code"] == "DUPLICATE"
    assert frames[-1]["error"]["original_request_id"] == "a"
    await client.until_result("a")


async def test_call_tool__side_effect_tools_are_never_cached_nor_coalesced(
    connect, agent, make_tool
) -> None:
    await database_sync_to_async(make_tool)(
        "record", "tests.bus.sample_tools.record", idempotent=False
    )
    client = await connect(agent[1])
    await client.send_call("record", {"seconds": 0.1}, request_id="a")
    await client.send_call("record", {"seconds": 0.1}, request_id="b")
    frames_a = await client.until_result("a")
    frames_b = await client.until_result("b")
    results = [f for f in frames_a + frames_b if f["op"] == "call_tool_res"]
    assert all("error" not in f and "cached" not in f for f in results)
    again = await client.call("record", {"seconds": 0.1}, request_id="c")
    assert again[0]["op"] == "call_tool_ack"
    replay = await client.call("record", {"seconds": 0.1}, request_id="c")
    assert replay == [again[-1]]


# Capacity


async def test_call_tool__session_limit(connect, agent, ws_config, gateway) -> None:
    ws_config(WS_SESSION_MAX_INFLIGHT=1, WS_RETRY_AFTER_SECS=2)
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 0.2}, request_id="a")
    frames = await client.call("sleep", {"seconds": 0.3}, request_id="b")
    assert frames == [
        {
            "op": "call_tool_res",
            "request_id": "b",
            "error": {
                "code": "OVER_CAPACITY",
                "message": "session concurrency limit reached; retry soon",
                "retry_after": 2,
                "scope": "session",
            },
        }
    ]
    assert await gateway.capacity.global_inflight() == 1
    await client.until_result("a")
    accepted = await client.call("sleep", {"seconds": 0.01}, request_id="c")
    assert accepted[-1]["text"] == "slept 0.01"


async def test_call_tool__global_limit_is_checked_first(
    connect, agent, other_agent, ws_config, make_tool
) -> None:
    ws_config(WS_GLOBAL_MAX_INFLIGHT=1, WS_SESSION_MAX_INFLIGHT=1)
    await database_sync_to_async(make_tool)(
        "narrow", "bus.tools.builtin.sleep", provider="narrow", max_inflight=1
    )
    one = await connect(agent[1])
    two = await connect(other_agent[1])
    await one.start("narrow", {"seconds": 0.2}, request_id="a")
    other_session = await two.call("narrow", {"seconds": 0.1}, request_id="b")
    same_session = await one.call("narrow", {"seconds": 0.1}, request_id="c")
    assert other_session[-1]["error"]["scope"] == "global"
    assert same_session[-1]["error"]["scope"] == "global"
    await one.until_result("a")


async def test_call_tool__provider_limit(
    connect, agent, other_agent, make_tool
) -> None:
    await database_sync_to_async(make_tool)(
        "narrow", "bus.tools.builtin.sleep", provider="narrow", max_inflight=1
    )
    one = await connect(agent[1])
    two = await connect(other_agent[1])
    await one.start("narrow", {"seconds": 0.2}, request_id="a")
    blocked = await two.call("narrow", {"seconds": 0.1}, request_id="b")
    other_provider = await two.call("sleep", {"seconds": 0.01}, request_id="c")
    assert blocked[-1]["error"]["scope"] == "provider"
    assert blocked[-1]["error"]["retry_after"] >= 1
    assert other_provider[-1]["text"] == "slept 0.01"
    await one.until_result("a")


async def test_call_tool__retry_after_follows_recent_durations(
    connect, agent, ws_config
) -> None:
    ws_config(WS_SESSION_MAX_INFLIGHT=1, WS_RETRY_AFTER_SECS=0.01)
    client = await connect(agent[1])
    await client.call("sleep", {"seconds": 0.4}, request_id="warm")
    await client.start("sleep", {"seconds": 0.41}, request_id="a")
    rejected = await client.call("sleep", {"seconds": 0.1}, request_id="b")
    retry_after = rejected[-1]["error"]["retry_after"]
    assert 0.2 < retry_after <= 0.45
    await client.until_result("a")


# Progress, timeout, errors, cancel


async def test_call_tool__heartbeats_between_ack_and_result(
    connect, agent, ws_config
) -> None:
    ws_config(WS_PROGRESS_INTERVAL_SECS=0.05)
    client = await connect(agent[1])
    frames = await client.call("sleep", {"seconds": 0.3})
    ops = [frame["op"] for frame in frames]
    assert ops[0] == "call_tool_ack" and ops[-1] == "call_tool_res"
    assert set(ops[1:-1]) == {"progress"} and len(ops) >= 4
    assert all(f["name"] == "sleep" for f in frames[1:-1])
    assert await client.comm.receive_nothing(0.1)


async def test_call_tool__timeout(connect, agent, make_tool, gateway) -> None:
    await database_sync_to_async(make_tool)(
        "slow", "bus.tools.builtin.sleep", timeout_secs=0.1
    )
    client = await connect(agent[1])
    frames = await client.call("slow", {"seconds": 5})
    assert frames[0]["timeout"] == 0.1
    assert frames[-1]["error"] == {
        "code": "TIMEOUT",
        "message": "slow did not finish within 0.1s",
    }
    assert await gateway.capacity.global_inflight() == 0


async def test_call_tool__default_timeout_applies(connect, agent, ws_config) -> None:
    ws_config(WS_CALL_TIMEOUT_SECS=0.1)
    client = await connect(agent[1])
    frames = await client.call("sleep", {"seconds": 5})
    assert frames[-1]["error"]["code"] == "TIMEOUT"


async def test_call_tool__tool_exception_is_exec_error(
    connect, agent, make_tool
) -> None:
    await database_sync_to_async(make_tool)("explode", "tests.bus.sample_tools.explode")
    client = await connect(agent[1])
    frames = await client.call("explode")
    assert frames[-1]["error"] == {
        "code": "EXEC_ERROR",
        "message": "boom: the tool broke",
    }


async def test_call_tool__nothing_returned_is_one_empty_text(
    connect, agent, make_tool
) -> None:
    await database_sync_to_async(make_tool)("nothing", "tests.bus.sample_tools.nothing")
    client = await connect(agent[1])
    frames = await client.call("nothing")
    assert frames[-1]["outputs"] == [{"type": "text", "text": ""}]
    assert frames[-1]["text"] == ""


async def test_cancel__running_call(connect, agent, gateway) -> None:
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 30}, request_id="r-1")
    await client.send({"op": "cancel", "request_id": "r-1"})
    frames = [await client.receive(), await client.receive()]
    by_op = {frame["op"]: frame for frame in frames}
    assert by_op["cancel_res"] == {"op": "cancel_res", "request_id": "r-1", "ok": True}
    assert by_op["call_tool_res"]["error"]["code"] == "CANCELLED"
    assert await gateway.capacity.global_inflight() == 0


async def test_cancel__unknown_or_other_agents_call(
    connect, agent, other_agent
) -> None:
    mine = await connect(agent[1])
    theirs = await connect(other_agent[1])
    await mine.start("sleep", {"seconds": 0.2}, request_id="r-1")
    await theirs.send({"op": "cancel", "request_id": "r-1"})
    assert await theirs.receive() == {
        "op": "cancel_res",
        "request_id": "r-1",
        "ok": False,
    }
    await mine.send({"op": "cancel", "request_id": "nope"})
    assert (await mine.receive())["ok"] is False
    assert (await mine.until_result("r-1"))[-1]["text"] == "slept 0.2"


async def test_disconnect__call_finishes_into_replay_cache(
    connect, agent, gateway
) -> None:
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 0.1}, request_id="gone")
    await client.close()
    await asyncio.wait(set(gateway.tasks), timeout=2)
    assert await gateway.capacity.global_inflight() == 0
    again = await connect(agent[1])
    frames = await again.call("sleep", {"seconds": 0.1}, request_id="gone")
    assert frames == [
        {
            "op": "call_tool_res",
            "request_id": "gone",
            "outputs": [{"type": "text", "text": "slept 0.1"}],
            "text": "slept 0.1",
        }
    ]


# Bad input keeps the connection open


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("{nope", "INVALID_JSON", "invalid_json"),
        ("[" * 5000, "INVALID_JSON", "invalid_json: nested deeper than 128 levels"),
        ("[1]", "INVALID_MESSAGE", "invalid_message: frame is not a JSON object"),
        ('{"x": 1}', "INVALID_MESSAGE", "invalid_message: missing or non-string op"),
        ('{"op": 5}', "INVALID_MESSAGE", "invalid_message: missing or non-string op"),
        (
            '{"op": "call_tool"}',
            "INVALID_MESSAGE",
            "invalid_message: call_tool needs a non-empty string name",
        ),
        (
            '{"op": "call_tool", "name": "echo", "request_id": 7}',
            "INVALID_MESSAGE",
            "invalid_message: request_id must be a string",
        ),
        (
            '{"op": "call_tool", "name": "echo", "arguments": []}',
            "INVALID_MESSAGE",
            "invalid_message: arguments must be an object",
        ),
        (
            '{"op": "cancel"}',
            "INVALID_MESSAGE",
            "invalid_message: cancel needs a string request_id",
        ),
        ('{"op": "fly"}', "UNKNOWN_OP", "Unknown op: fly"),
    ],
)
async def test_bad_frame__error_and_connection_stays(
    connect, agent, text, code, message
) -> None:
    client = await connect(agent[1])
    await client.send_text(text)
    assert await client.receive() == {"op": "error", "code": code, "message": message}
    await client.send({"op": "list_tools"})
    assert (await client.receive())["op"] == "list_tools_res"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_bad_frame__non_json_numbers_are_invalid_json(
    connect, agent, literal
) -> None:
    client = await connect(agent[1])
    await client.send_text(
        '{"op":"call_tool","name":"sleep","request_id":"r-nan",'
        '"arguments":{"seconds":' + literal + "}}"
    )
    reply = await client.receive()
    assert (reply["op"], reply["code"]) == ("error", "INVALID_JSON")
    assert await client.comm.receive_nothing(0.05)
    frames = await client.call("sleep", {"seconds": 0}, request_id="r-nan")
    assert frames[-1]["text"] == "slept 0"


@pytest.mark.parametrize(
    "text",
    [
        '{"op":"call_tool","name":"echo\\ud800","request_id":"r-1"}',
        '{"op":"call_tool","name":"echo","request_id":"\\udc00"}',
        '{"op":"call_tool","name":"echo","arguments":{"text":"\\ud800"}}',
        '{"op":"call_tool","name":"echo","arguments":{"\\ud800":"x"}}',
        '{"op":"cancel","request_id":"\\ud800"}',
        '{"op":"rotate_token","old":"\\ud800","new":"x"}',
        '{"op":"rotate_token","old":"OLD","new":"\\ud800'
        + "abcdefghijklmnopq" * 2
        + '"}',
        '{"op":"bus_fetch","transaction_id":"txn_\\ud800"}',
        '{"op":"bus_ack","transaction_id":"\\ud800"}',
        '{"op":"health","\\ud800":1}',
    ],
)
async def test_bad_frame__lone_surrogate_is_invalid_message(
    connect, agent, text, caplog
) -> None:
    client = await connect(agent[1])
    await client.send_text(text.replace("OLD", agent[1]))
    assert await client.receive() == {
        "op": "error",
        "code": "INVALID_MESSAGE",
        "message": "invalid_message: a string holds a lone surrogate",
    }
    assert await client.comm.receive_nothing(0.05)
    assert [r for r in caplog.records if r.exc_info] == []
    await client.send({"op": "list_tools"})
    assert (await client.receive())["op"] == "list_tools_res"


async def test_bad_frame__nesting_limit_applies_to_arguments(
    connect, agent, make_tool
) -> None:
    """128 levels reach the schema and canonical JSON; 129 or 1000 never do."""
    await database_sync_to_async(make_tool)(
        "nest",
        "tests.bus.sample_tools.nothing",
        schema={
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        },
    )
    client = await connect(agent[1])

    def frame(depth: int) -> str:
        # frame (1) > arguments (2) > x (3) ... the innermost array at `depth`
        x = "[" * (depth - 2) + "]" * (depth - 2)
        return (
            f'{{"op":"call_tool","name":"nest","request_id":"r-{depth}",'
            f'"arguments":{{"x":{x}}}}}'
        )

    await client.send_text(frame(128))
    frames = await client.until_result("r-128")
    assert "error" not in frames[-1], frames[-1]
    for depth in (129, 1000, 10_000):
        await client.send_text(frame(depth))
        reply = await client.receive()
        assert (reply["op"], reply["code"]) == ("error", "INVALID_JSON")


# health and rotate_token


async def test_health__reports_the_process(connect, agent) -> None:
    client = await connect(agent[1])
    await client.send({"op": "health"})
    reply = await client.receive()
    assert reply["op"] == "health_res" and reply["ok"] is True
    health = reply["health"]
    assert set(health) == {
        "t",
        "uptime_human",
        "uptime_s",
        "sessions",
        "global_capacity",
        "global_inflight",
        "tool_count",
        "bus",
        "worker",
        "workers",
        "stale",
    }
    assert health["worker"] == worker_id()
    assert health["workers"] == 1 and health["stale"] is False
    assert health["sessions"] == 1 and health["global_capacity"] == 24
    assert health["tool_count"] == 3
    assert health["bus"] == {"enabled": True, "breaker": "closed"}


async def test_rotate_token__refusals(connect, agent) -> None:
    client = await connect(agent[1])
    cases = [
        ({"op": "rotate_token"}, "missing_params"),
        ({"op": "rotate_token", "old": agent[1]}, "missing_params"),
        ({"op": "rotate_token", "old": "wrong", "new": "n" * 40}, "unauthorized"),
        ({"op": "rotate_token", "old": agent[1], "new": "short"}, "weak_token"),
        ({"op": "rotate_token", "old": agent[1], "new": "a" * 32}, "weak_token"),
        ({"op": "rotate_token", "old": agent[1], "new": "ab" * 40}, "weak_token"),
    ]
    for frame, error in cases:
        await client.send(frame)
        assert await client.receive() == {
            "op": "rotate_token_res",
            "ok": False,
            "error": error,
        }


async def test_rotate_token__old_token_stops_working(
    ws_application, connect, agent, gateway
) -> None:
    client = await connect(agent[1])
    new = "0123456789abcdef" * 2
    await client.send({"op": "rotate_token", "old": agent[1], "new": new})
    assert await client.receive() == {"op": "rotate_token_res", "ok": True}
    reply, closed = await _first_frame(
        ws_application, json.dumps({"op": "hello", "token": agent[1]})
    )
    assert reply["error"] == "unauthorized" and closed["code"] == 4003
    fresh = await connect(new)
    assert fresh.hello_ack["ok"] is True
    await client.send({"op": "rotate_token", "old": new, "new": "fedcba9876543210" * 2})
    assert (await client.receive())["ok"] is True


# Metrics and slot release


async def test_call_tool__metrics_line_per_answer(connect, agent, gateway, tmp_path):
    client = await connect(agent[1])
    await client.call("echo", {"text": "m"})
    await client.call("nope", request_id="r-2")
    gateway.call_log.flush()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["name"], e["prov"], e["outcome"]) for e in entries] == [
        ("echo", "builtin", "ok"),
        ("nope", "", "TOOL_NOT_FOUND"),
    ]
    assert set(entries[0]) == {
        "t",
        "op",
        "lat",
        "sess",
        "name",
        "prov",
        "outcome",
        "bytes",
        "bus",
        "rid",
        "agent",
        "worker",
    }
    assert (entries[0]["rid"], entries[0]["agent"]) == ("r-1", "agent-one")
    assert entries[0]["worker"] == worker_id()
    assert entries[0]["sess"] == client.hello_ack["session_id"]
    assert entries[0]["bus"] is False and entries[0]["bytes"] > 0


async def test_slots__released_after_1000_mixed_calls(
    connect, agent, other_agent, ws_config, make_tool, gateway
) -> None:
    ws_config(
        WS_SESSION_MAX_INFLIGHT=4, WS_GLOBAL_MAX_INFLIGHT=6, WS_CALL_TIMEOUT_SECS=0.05
    )
    await database_sync_to_async(make_tool)("explode", "tests.bus.sample_tools.explode")
    clients = [await connect(agent[1]), await connect(other_agent[1])]
    outcomes: dict[str, int] = {}

    async def drive(client, offset: int) -> None:
        for n in range(500):
            rid = f"{offset}-{n}"
            kind = n % 6
            if kind == 0:
                frame = {"name": "echo", "arguments": {"text": str(n)}}
            elif kind == 1:
                frame = {"name": "sleep", "arguments": {"seconds": 0.001 * (n % 7)}}
            elif kind == 2:
                frame = {"name": "sleep", "arguments": {"seconds": 1}}
            elif kind == 3:
                frame = {"name": "explode"}
            elif kind == 4:
                frame = {"name": "sleep", "arguments": {"seconds": 2 + n}}
            else:
                frame = {"name": "echo", "arguments": {}}
            await client.send({"op": "call_tool", "request_id": rid, **frame})
            if kind == 4:
                await client.send({"op": "cancel", "request_id": rid})
        pending = {f"{offset}-{n}" for n in range(500)}
        while pending:
            reply = await client.receive(timeout=5)
            if reply["op"] == "call_tool_res":
                pending.discard(reply["request_id"])
                code = reply.get("error", {}).get("code", "ok")
                outcomes[code] = outcomes.get(code, 0) + 1

    await asyncio.gather(drive(clients[0], 0), drive(clients[1], 1))
    # Calls left running by a disconnect are released when they end.
    third = await connect(agent[1])
    await third.start("sleep", {"seconds": 0.02}, request_id="x")
    await third.close()
    if gateway.tasks:
        await asyncio.wait(set(gateway.tasks), timeout=5)
    assert sum(outcomes.values()) == 1000
    assert {"ok", "TIMEOUT", "EXEC_ERROR", "INVALID_ARGUMENTS"} <= set(outcomes)
    assert await gateway.capacity.global_inflight() == 0
    assert gateway.running == {} and await gateway.in_flight.count() == 0
    snapshot = await gateway.capacity_snapshot(
        await aget_config(), await gateway.registry.aget()
    )
    assert all(usage.used == 0 for usage in snapshot.providers + snapshot.sessions)


# What the replay cache remembers, and request-id conflicts


async def test_call_tool__side_effect_tool_resent_with_other_arguments_runs_nothing(
    connect, agent, make_tool
) -> None:
    """REQUEST_ID_CONFLICT while the call runs and after it ended; one run only."""
    from tests.bus import sample_tools

    await database_sync_to_async(make_tool)(
        "record", "tests.bus.sample_tools.record", idempotent=False
    )
    runs = len(sample_tools.CALLS)
    client = await connect(agent[1])
    await client.start("record", {"seconds": 0.2, "to": "alice"}, request_id="pay")
    await client.send_call("record", {"seconds": 0.2, "to": "bob"}, request_id="pay")
    conflict = await client.receive()
    assert conflict["request_id"] == "pay"
    assert conflict["error"]["code"] == "REQUEST_ID_CONFLICT"
    first = (await client.until_result("pay"))[-1]
    assert first["text"] == f"call {runs + 1}"
    again = await client.call("record", {"seconds": 0.2, "to": "bob"}, "pay")
    assert [frame["error"]["code"] for frame in again] == ["REQUEST_ID_CONFLICT"]
    assert await client.call("record", {"to": "alice", "seconds": 0.2}, "pay") == [
        first
    ]
    assert len(sample_tools.CALLS) == runs + 1


async def test_call_tool__cancelled_call_is_not_replayed(connect, agent) -> None:
    """Resending a call its agent cancelled runs it again, whatever its arguments."""
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 30}, request_id="r-1")
    await client.send({"op": "cancel", "request_id": "r-1"})
    frames = [await client.receive(), await client.receive()]
    assert {frame["op"] for frame in frames} == {"cancel_res", "call_tool_res"}
    again = await client.call("sleep", {"seconds": 0.01}, request_id="r-1")
    assert again[0]["op"] == "call_tool_ack"
    assert again[-1]["text"] == "slept 0.01"


async def test_call_tool__errors_of_calls_that_never_ran_are_not_remembered(
    connect, agent, ws_config
) -> None:
    """After TOOL_NOT_FOUND, INVALID_ARGUMENTS, DUPLICATE or OVER_CAPACITY, the
    same request_id runs the call it names next (no replay, no conflict)."""
    ws_config(WS_SESSION_MAX_INFLIGHT=2)
    client = await connect(agent[1])
    refused = [
        await client.call("nope", {}, request_id="unknown"),
        await client.call("echo", {}, request_id="invalid"),
    ]
    # Long enough that neither ends while the refusals are read.
    await client.start("sleep", {"seconds": 0.5}, request_id="running")
    refused.append(await client.call("sleep", {"seconds": 0.5}, request_id="dup"))
    await client.start("sleep", {"seconds": 0.6}, request_id="second")
    refused.append(await client.call("sleep", {"seconds": 0.4}, request_id="full"))
    assert [frames[-1]["error"]["code"] for frames in refused] == [
        "TOOL_NOT_FOUND",
        "INVALID_ARGUMENTS",
        "DUPLICATE",
        "OVER_CAPACITY",
    ]
    await client.until_result("running")
    await client.until_result("second")
    for request_id in ("unknown", "invalid", "dup", "full"):
        frames = await client.call("echo", {"text": request_id}, request_id)
        assert frames[0]["op"] == "call_tool_ack", frames
        assert frames[-1]["text"] == request_id


async def test_call_tool__builtin_tool_refuses_an_argument_it_does_not_take(
    connect, agent
) -> None:
    """An extra argument is INVALID_ARGUMENTS before running, never EXEC_ERROR."""
    client = await connect(agent[1])
    frames = await client.call("echo", {"text": "a", "extra": 1}, request_id="x")
    assert [frame["op"] for frame in frames] == ["call_tool_res"]
    error = frames[-1]["error"]
    assert error["code"] == "INVALID_ARGUMENTS" and "extra" in error["message"]
