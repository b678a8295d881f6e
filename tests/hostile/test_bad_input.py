"""Bad input from hostile clients against a real server, over raw sockets.

Each test sends what PROTOCOL.md's "Bad input" table and handshake table
refuse, and checks that the sender gets its error while the server stays
fair to everyone else: the bus breaker stays closed, other agents' calls are
answered, and the log keeps one record per line without tracebacks.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.servers import MIB, Server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECEIVE_TIMEOUT_SECS = 10
# A sanity bound, not a speed target: far above a 0.2 s sleep, far below the
# 180 s call timeout a NaN sleep used to hold.
ANSWERED_WITHIN_SECS = 20
FLOOD = 60
MALFORMED_IDS = [
    "txn_\x00",
    "\x00",
    "txn_" + "0" * 31 + "\x00",
    "txn_" + "A" * 32,
    "txn_" + "0" * 33,
    "x" * 2000,
]
MALFORMED_PATHS = ["txn_%00", "%00", "txn_" + "0" * 31 + "%00", "txn_" + "A" * 32]


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))


async def _until(ws: ClientConnection, op: str, request_id: str) -> dict[str, Any]:
    while True:
        frame = await _receive(ws)
        if frame["op"] == op and frame.get("request_id") == request_id:
            return frame


async def _hello(server: Server, token: str, **fields: Any) -> ClientConnection:
    ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/", max_size=None)
    await ws.send(json.dumps({"op": "hello", "token": token, **fields}))
    ack = await _receive(ws)
    assert ack["ok"] is True, ack
    return ws


async def _breaker(ws: ClientConnection) -> str:
    await ws.send(json.dumps({"op": "health"}))
    return (await _receive(ws))["health"]["bus"]["breaker"]


def _http(server: Server, method: str, path: str, token: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _tracebacks(server: Server) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if "Traceback" in line]


async def test_malformed_transaction_id_flood__breaker_stays_closed_and_bus_works(
    control_plane, agent
) -> None:
    """NUL ids raised DataError in the driver; five of them opened the breaker."""
    server = control_plane()
    ws = await _hello(server, agent[1])
    try:
        for n in range(FLOOD):
            transaction_id = MALFORMED_IDS[n % len(MALFORMED_IDS)]
            op = "bus_fetch" if n % 2 else "bus_ack"
            await ws.send(json.dumps({"op": op, "transaction_id": transaction_id}))
            reply = await _receive(ws)
            assert reply["op"] == f"{op}_res"
            assert reply["error"]["code"] == "NOT_FOUND"
        for n in range(FLOOD):
            method = "GET" if n % 2 else "DELETE"
            path = f"/bus/{MALFORMED_PATHS[n % len(MALFORMED_PATHS)]}/"
            status, body = await asyncio.to_thread(
                _http, server, method, path, agent[1]
            )
            assert status == 404, (path, body)
            assert json.loads(body)["error"]["code"] == "NOT_FOUND"

        assert await _breaker(ws) == "closed"
        await ws.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "generate",
                    "request_id": "big",
                    "arguments": {"bytes": 2 * MIB, "seed": 1},
                }
            )
        )
        result = await _until(ws, "call_tool_res", "big")
    finally:
        await ws.close()
    assert "bus" in result, result
    status, body = await asyncio.to_thread(
        _http, server, "GET", result["bus"]["fetch_url"], agent[1]
    )
    assert status == 200
    assert len(json.loads(body)["outputs"][0]["text"]) == 2 * MIB
    health_status, _ = await asyncio.to_thread(_http, server, "GET", "/health/", "")
    assert health_status == 200
    assert _tracebacks(server) == []


async def test_nan_sleep__is_invalid_json_and_other_agents_stay_on_time(
    control_plane, agent, other_agent
) -> None:
    """A NaN sleep ran until the timeout and made other agents' sleeps late."""
    server = control_plane()
    hostile = await _hello(server, agent[1])
    polite = await _hello(server, other_agent[1])
    try:
        for literal in ("NaN", "Infinity", "-Infinity", "NaN"):
            await hostile.send(
                '{"op":"call_tool","name":"sleep","request_id":"nan",'
                '"arguments":{"seconds":' + literal + "}}"
            )
            reply = await _receive(hostile)
            assert (reply["op"], reply["code"]) == ("error", "INVALID_JSON"), reply
        started = time.monotonic()
        await polite.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "sleep",
                    "request_id": "nap",
                    "arguments": {"seconds": 0.2},
                }
            )
        )
        result = await asyncio.wait_for(
            _until(polite, "call_tool_res", "nap"), ANSWERED_WITHIN_SECS
        )
        elapsed = time.monotonic() - started
        await hostile.send(json.dumps({"op": "health"}))
        health = (await _receive(hostile))["health"]
    finally:
        await hostile.close()
        await polite.close()
    assert result["text"] == "slept 0.2"
    assert elapsed < ANSWERED_WITHIN_SECS
    assert health["global_inflight"] == 0  # no NaN sleep holds a slot


async def test_lone_surrogate_token__invalid_hello_4000_without_traceback(
    control_plane,
) -> None:
    """It raised UnicodeEncodeError while hashing: close 1011 and a traceback."""
    server = control_plane()
    async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
        await ws.send('{"op":"hello","token":"\\ud800"}')
        assert await _receive(ws) == {
            "op": "hello_ack",
            "ok": False,
            "error": "invalid_hello",
        }
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
    assert closed.value.rcvd.code == 4000
    # Still serving: a plain status request answers.
    status, _ = await asyncio.to_thread(_http, server, "GET", "/health/live", "")
    assert status == 200
    assert _tracebacks(server) == []


async def test_forged_log_line__never_appears_as_its_own_line(
    control_plane, agent
) -> None:
    server = control_plane(LOG_FORMAT="text", LOG_LEVEL="INFO")
    forged = (
        "2026-12-01 00:00:00,000 CRITICAL controlplane [-] FORGED: admin token leaked"
    )
    ws = await _hello(
        server, agent[1], client={"name": f"bot\n{forged}\r\n", "version": "1\n2"}
    )
    await ws.close()
    lines = server.log.read_text().splitlines()
    assert not any(line.startswith(forged[:23]) for line in lines), lines
    connected = [line for line in lines if "connected (client bot" in line]
    assert len(connected) == 1
    assert connected[0].endswith(f"(client bot\\n{forged}\\r\\n 1\\n2)")
