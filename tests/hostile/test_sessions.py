"""Hostile clients against a real server: revoked tokens, hello floods, slow readers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.request
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from controlplane.tokens import agent_token_revoke
from tests.servers import MIB, Server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECEIVE_TIMEOUT_SECS = 10
# A result under the bus threshold, so every answer carries it inline.
GENERATE = {"bytes": 900_000, "seed": 1}
# Enough identical calls that their answers are four times the default bound.
ATTACK_CALLS = 300
DEFAULT_MAX_BUFFERED = 64 * MIB
RSS_MARGIN = 100 * MIB


def _url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/"


async def _receive(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))


async def _hello(ws: Any, token: str) -> dict[str, Any]:
    await ws.send(json.dumps({"op": "hello", "token": token}))
    return await _receive(ws)


async def _call(ws: Any, name: str, arguments: dict, request_id: str) -> None:
    frame = {
        "op": "call_tool",
        "name": name,
        "request_id": request_id,
        "arguments": arguments,
    }
    await ws.send(json.dumps(frame))


async def _result(ws: Any, request_id: str) -> dict[str, Any]:
    while True:
        frame = await _receive(ws)
        if frame["op"] == "call_tool_res" and frame["request_id"] == request_id:
            return frame


async def _close_code(ws: Any) -> int:
    """Read everything the server sent until its close frame; return its code."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
    assert closed.value.rcvd is not None, "the server dropped without a close frame"
    return closed.value.rcvd.code


def _rss(pid: int) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


async def _log_line(server: Server, text: str, timeout: float = 30) -> str:
    """Wait until the server's log has a line containing text; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log.read_text(errors="replace").splitlines():
            if text in line:
                return line
        await asyncio.sleep(0.02)
    raise AssertionError(f"no log line with {text!r}:\n{server.log.read_text()}")


# Revocation


def test_revocation__closes_an_open_session_with_4003_within_5_s(
    control_plane, agent
) -> None:
    server = control_plane()
    row, token = agent

    async def scenario() -> tuple[int, float]:
        async with ws_connect(_url(server)) as ws:
            assert (await _hello(ws, token))["ok"] is True
            await ws.send(json.dumps({"op": "list_tools"}))
            assert (await _receive(ws))["op"] == "list_tools_res"
            revoked_at = time.monotonic()
            await asyncio.to_thread(agent_token_revoke, agent=row)
            code = await _close_code(ws)
            return code, time.monotonic() - revoked_at

    code, elapsed = asyncio.run(scenario())
    assert code == 4003
    assert elapsed < 5


# Failed hellos


def _hello_refusals(server: Server) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as reply:
        text = reply.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("controlplane_ws_hello_refusals_total{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('reason="')[1].split('"')[0]] = float(value)
    return found


async def _refused(server: Server, first_frame: str, **connect: Any) -> tuple:
    async with ws_connect(_url(server), **connect) as ws:
        await ws.send(first_frame)
        reply = await _receive(ws)
        return reply["error"], await _close_code(ws)


def test_failed_hellos__rate_limit_engages_for_the_address(
    control_plane, agent
) -> None:
    server = control_plane(WS_AUTH_FAILURES_PER_MINUTE="3")
    bad_token = "not-a-token-" + "x" * 40
    hello = json.dumps({"op": "hello", "token": agent[1]})

    async def scenario() -> list[tuple]:
        # Each failure counts, whatever the reason, and a spoofed
        # X-Forwarded-For changes nothing when no proxy is trusted.
        return [
            await _refused(server, "not json"),
            await _refused(
                server,
                json.dumps({"op": "list_tools"}),
                additional_headers={"X-Forwarded-For": "198.51.100.1"},
            ),
            await _refused(server, json.dumps({"op": "hello", "token": bad_token})),
            await _refused(server, hello),
            await _refused(
                server, hello, additional_headers={"X-Forwarded-For": "198.51.100.2"}
            ),
        ]

    assert asyncio.run(scenario()) == [
        ("invalid_hello", 4000),
        ("missing_hello", 4001),
        ("unauthorized", 4003),
        ("rate_limited", 1013),
        ("rate_limited", 1013),
    ]
    log = server.log.read_text()
    assert log.count("WARNING") >= 3 and "127.0.0.1" in log
    assert bad_token not in log and agent[1] not in log
    assert _hello_refusals(server) == {
        "invalid_hello": 1.0,
        "missing_hello": 1.0,
        "unauthorized": 1.0,
        "rate_limited": 2.0,
    }


def test_failed_hellos__behind_a_trusted_proxy_count_per_client(
    control_plane, agent
) -> None:
    server = control_plane(
        WS_AUTH_FAILURES_PER_MINUTE="2", WS_TRUSTED_PROXIES="127.0.0.1"
    )
    bad = json.dumps({"op": "hello", "token": "wrong"})
    hello = json.dumps({"op": "hello", "token": agent[1]})

    def via(client: str) -> dict[str, Any]:
        # The client may claim anything at the left; the proxy appends the truth.
        return {"additional_headers": {"X-Forwarded-For": f"10.9.9.9, {client}"}}

    async def scenario() -> tuple:
        refusals = [await _refused(server, bad, **via("203.0.113.7")) for _ in "ab"]
        limited = await _refused(server, hello, **via("203.0.113.7"))
        async with ws_connect(_url(server), **via("203.0.113.8")) as ws:
            other = await _hello(ws, agent[1])
        return refusals, limited, other["ok"]

    refusals, limited, other_ok = asyncio.run(scenario())
    assert refusals == [("unauthorized", 4003)] * 2
    assert limited == ("rate_limited", 1013)
    assert other_ok is True
    assert "203.0.113.7" in server.log.read_text()


# A client that does not read


async def _slow_reader(server: Server, token: str) -> tuple[int, int, int]:
    """Flood a non-reading connection with cached answers; return close, RSS."""
    pid = server.process.pid
    async with ws_connect(
        _url(server), max_size=None, max_queue=1, ping_interval=None
    ) as ws:
        assert (await _hello(ws, token))["ok"] is True
        await _call(ws, "generate", GENERATE, "warm-up")
        assert "outputs" in await _result(ws, "warm-up")
        baseline = peak = _rss(pid)
        for number in range(ATTACK_CALLS):
            await _call(ws, "generate", GENERATE, f"r-{number}")
        overflow = asyncio.create_task(_log_line(server, "WS_MAX_BUFFERED_BYTES"))
        while not overflow.done():
            peak = max(peak, _rss(pid))
            await asyncio.sleep(0.01)
        overflow.result()
        code = await _close_code(ws)
        peak = max(peak, _rss(pid))
    return code, baseline, peak


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_slow_reader__is_closed_1008_and_the_server_stays_bounded(
    control_plane, agent, kind
) -> None:
    server = control_plane(kind)
    code, baseline, peak = asyncio.run(_slow_reader(server, agent[1]))
    assert code == 1008
    assert peak - baseline <= DEFAULT_MAX_BUFFERED + RSS_MARGIN, (baseline, peak)

    async def served() -> dict[str, Any]:
        async with ws_connect(_url(server)) as ws:
            assert (await _hello(ws, agent[1]))["ok"] is True
            await _call(ws, "echo", {"text": "still here"}, "after")
            return await _result(ws, "after")

    assert asyncio.run(served())["outputs"][0]["text"] == "still here"


def test_slow_reader__bound_never_cuts_a_stored_result_being_fetched(
    control_plane, agent
) -> None:
    """bus_chunk frames wait for room: a result larger than the bound streams whole."""
    server = control_plane(WS_MAX_BUFFERED_BYTES=str(MIB))

    async def fetch() -> tuple[bytes, dict[str, Any]]:
        async with ws_connect(_url(server), max_size=None) as ws:
            assert (await _hello(ws, agent[1]))["ok"] is True
            await _call(ws, "generate", {"bytes": 3 * MIB, "seed": 2}, "big")
            ref = (await _result(ws, "big"))["bus"]
            await ws.send(
                json.dumps({"op": "bus_fetch", "transaction_id": ref["transaction_id"]})
            )
            pieces = []
            while (frame := await _receive(ws))["op"] == "bus_chunk":
                pieces.append(base64.b64decode(frame["data"]))
            return b"".join(pieces), frame

    payload, done = asyncio.run(fetch())
    assert done["op"] == "bus_fetch_res" and done["chunks"] >= 6
    assert done["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert len(json.loads(payload)["outputs"][0]["text"]) == 3 * MIB
