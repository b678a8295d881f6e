"""End to end: `manage.py serve` in a subprocess, driven by a real websockets client."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.servers import ROOT, Server, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MIB = 1024 * 1024
MAX_MESSAGE = 4 * MIB
RECEIVE_TIMEOUT_SECS = 10


@pytest.fixture
def server(request, tmp_path, builtin_tools) -> Iterator[Server]:
    """A served control plane on a free port, always stopped at the end."""
    running = Server(tmp_path, free_port(), getattr(request, "param", "daphne"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _receive(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))


async def _until(ws: Any, op: str, request_id: str | None = None) -> dict[str, Any]:
    while True:
        frame = await _receive(ws)
        if frame["op"] == op and request_id in (None, frame.get("request_id")):
            return frame


async def test_serve__hello_list_call_cancel_health(server, agent) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws/"
    async with ws_connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"op": "hello", "token": agent[1]}))
        ack = await _receive(ws)
        assert ack["ok"] is True
        assert ack["limits"]["max_message_bytes"] == MAX_MESSAGE
        await ws.send(json.dumps({"op": "list_tools"}))
        tools = await _receive(ws)
        assert {"echo", "sleep", "generate"} <= {t["name"] for t in tools["tools"]}
        await ws.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "echo",
                    "request_id": "e",
                    "arguments": {"text": "hello"},
                }
            )
        )
        assert (await _receive(ws))["op"] == "call_tool_ack"
        assert (await _receive(ws))["text"] == "hello"
        await ws.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "sleep",
                    "request_id": "s",
                    "arguments": {"seconds": 30},
                }
            )
        )
        assert (await _receive(ws))["op"] == "call_tool_ack"
        assert (await _receive(ws))["op"] == "progress"
        await ws.send(json.dumps({"op": "cancel", "request_id": "s"}))
        assert (await _until(ws, "cancel_res"))["ok"] is True
        await ws.send(json.dumps({"op": "health"}))
        health = await _until(ws, "health_res")
        assert health["health"]["sessions"] == 1
        assert health["health"]["global_inflight"] == 0
        assert health["health"]["worker"] == (
            f"{socket.gethostname()}:{server.process.pid}"
        )
    record = json.loads(server.health.read_text())
    assert record["port"] == server.port and record["pid"] == server.process.pid
    assert time.time() - record["t"] < 20


def _http_get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=RECEIVE_TIMEOUT_SECS) as response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return response.status, headers, response.read()


async def test_serve__message_size_limits(server, agent) -> None:
    async with ws_connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as ws:
        await ws.send(json.dumps({"op": "hello", "token": agent[1]}))
        assert (await _receive(ws))["ok"] is True
        text = "x" * (MIB + MIB // 2)
        await ws.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "echo",
                    "request_id": "big",
                    "arguments": {"text": text},
                }
            )
        )
        # Over the bus threshold: the result comes back as a claim check, and
        # the same agent downloads it over HTTP, checksum and all.
        ref = (await _until(ws, "call_tool_res", "big"))["bus"]
        status, headers, body = await asyncio.to_thread(
            _http_get, f"http://127.0.0.1:{server.port}{ref['fetch_url']}", agent[1]
        )
        assert status == 200
        assert headers["x-checksum-sha256"] == ref["checksum"].removeprefix("sha256:")
        assert int(headers["content-length"]) == len(body) == ref["size_bytes"]
        assert json.loads(body)["outputs"][0]["text"] == text
        await ws.send("y" * (MAX_MESSAGE + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
        assert closed.value.rcvd.code == 1009


async def _start_long_sleep(ws: Any, token: str) -> None:
    """Say hello and start a 60 s sleep (request "long"); return at its ack."""
    await ws.send(json.dumps({"op": "hello", "token": token}))
    assert (await _receive(ws))["ok"] is True
    call = {"op": "call_tool", "name": "sleep", "request_id": "long"}
    await ws.send(json.dumps({**call, "arguments": {"seconds": 60}}))
    assert (await _receive(ws))["op"] == "call_tool_ack"


@pytest.mark.parametrize("server", ["daphne", "uvicorn"], indirect=True)
async def test_serve__sigterm_drains_and_cleans_up(server, agent) -> None:
    async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
        await _start_long_sleep(ws, agent[1])
        assert server.health.exists() and server.pid_file.exists()
        server.process.send_signal(signal.SIGTERM)
        result = await _until(ws, "call_tool_res", "long")
        assert result["error"]["code"] == "CANCELLED"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
        assert closed.value.rcvd.code == 1001
    assert server.process.wait(timeout=15) == 0
    assert not server.health.exists() and not server.pid_file.exists()
    lines = server.metrics.read_text().splitlines()
    assert json.loads(lines[-1])["outcome"] == "CANCELLED"


def test_serve__second_instance_on_the_port_is_refused(server) -> None:
    second = subprocess.run(
        server.command(), cwd=ROOT, env=server.env, capture_output=True, timeout=30
    )
    assert second.returncode == 1
    assert b"another server" in second.stderr
    assert b"serving on" not in second.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_serve__busy_port_is_refused_before_announcing(tmp_path, workers: int) -> None:
    """A port held by anything else (no PID file of ours) stops serve silently."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        second = Server(tmp_path, port, workers=workers)
        done = subprocess.run(
            second.command(), cwd=ROOT, env=second.env, capture_output=True, timeout=30
        )
    assert done.returncode == 1
    assert b"serving on" not in done.stdout
    assert f"cannot listen: 127.0.0.1:{port}".encode() in done.stderr
    assert not second.pid_file.exists()


def test_serve__stale_pid_file_is_replaced(tmp_path, builtin_tools) -> None:
    stale = Server(tmp_path, free_port())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale.pid_file.write_text(f"{dead.pid}\n")
    stale.start()
    try:
        deadline = time.monotonic() + 10
        while stale.pid_file.read_text().strip() != str(stale.process.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        assert stale.stop() == 0


def _scrape(port: int, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=RECEIVE_TIMEOUT_SECS) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


async def test_serve__metrics_need_the_token_and_name_no_session(
    tmp_path, builtin_tools, agent
) -> None:
    token = "scrape-token-for-the-e2e-test"  # audit: ignore[AUD105] a test value
    server = Server(tmp_path, free_port(), METRICS_TOKEN=token)
    server.start()
    try:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            await ws.send(json.dumps({"op": "hello", "token": agent[1]}))
            session_id = (await _receive(ws))["session_id"]
            await ws.send(
                json.dumps(
                    {
                        "op": "call_tool",
                        "name": "sleep",
                        "request_id": "held",
                        "arguments": {"seconds": 30},
                    }
                )
            )
            assert (await _receive(ws))["op"] == "call_tool_ack"
            refused, _ = await asyncio.to_thread(_scrape, server.port, {})
            status, body = await asyncio.to_thread(
                _scrape, server.port, {"Authorization": f"Bearer {token}"}
            )
    finally:
        server.stop()
    assert refused == 401
    assert status == 200
    worker = f'worker="{socket.gethostname()}:{server.process.pid}"'
    assert f"controlplane_ws_sessions{{{worker}}} 1.0" in body
    assert f'controlplane_ws_inflight{{name="",scope="global",{worker}}} 1.0' in body
    assert 'scope="provider"' in body
    assert session_id not in body and 'scope="session"' not in body


async def _logged(server: Server, text: str) -> None:
    """Wait until the server's log holds text (the log is its only progress report)."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT_SECS
    while text not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_serve__double_sigint_cancels_now_closes_and_cleans_up(
    tmp_path, builtin_tools, agent, kind
) -> None:
    """A second Ctrl-C cuts the 60 s grace short, with a close frame all the same."""
    server = Server(tmp_path, free_port(), kind, WS_SHUTDOWN_GRACE_SECS="60")
    server.start()
    try:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            await _start_long_sleep(ws, agent[1])
            server.process.send_signal(signal.SIGINT)
            await _logged(server, "Shutting down")
            server.process.send_signal(signal.SIGINT)
            result = await _until(ws, "call_tool_res", "long")
            assert result["error"]["code"] == "CANCELLED"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()
    assert not server.health.exists() and not server.pid_file.exists()
