"""Upstream MCP servers for the tests (real processes) and a WebSocket agent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from tests.servers import ROOT, free_port
from tests.workers.clients import hello, receive

SCRIPT = Path(__file__).with_name("upstream_server.py")
START_TIMEOUT_SECS = 20


def stdio_command() -> str:
    """Return the --stdio command line of the test upstream."""
    return f"{sys.executable} {SCRIPT} stdio"


class HttpUpstream:
    """The test upstream served over streamable HTTP by uvicorn on a free port."""

    def __init__(self, state: Path) -> None:
        self.state, self.port = state, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        log = (self.state / "http.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "http", str(self.port)],
            cwd=ROOT,
            env={**os.environ, "UPSTREAM_STATE_DIR": str(self.state)},
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.state / "http.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the HTTP upstream did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def kill_stdio_upstreams(state: Path) -> None:
    """Kill the stdio upstream a server launched (it wrote its pid)."""
    os.kill(int((state / "pid").read_text()), signal.SIGKILL)


async def _session(port: int, token: str, frames: list[dict[str, Any]]) -> list[Any]:
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/", max_size=None) as ws:
        assert (await hello(ws, token))["ok"] is True
        answers = []
        for frame in frames:
            await ws.send(json.dumps(frame))
            if frame["op"] == "list_tools":
                answers.append(await receive(ws, "list_tools_res"))
            elif frame["op"] == "health":
                answers.append(await receive(ws, "health_res"))
            else:
                answers.append(await receive(ws, "call_tool_res"))
        return answers


def list_tools(port: int, token: str) -> dict[str, dict[str, Any]]:
    """Return the tools an agent sees, by name."""
    (answer,) = asyncio.run(_session(port, token, [{"op": "list_tools"}]))
    return {tool["name"]: tool for tool in answer["tools"]}


def call(port: int, token: str, name: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool over a fresh session and return the call_tool_res frame."""
    frame = {"op": "call_tool", "name": name, "arguments": arguments}
    (answer,) = asyncio.run(_session(port, token, [frame]))
    return answer


def health(port: int) -> dict[str, str]:
    """Return /health/ as JSON: check name to OK or its message."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health/?format=json",
        headers={"Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def wait_until(check: Any, timeout: float, what: str) -> float:
    """Poll check() until it is true; return the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout}s"
        time.sleep(0.2)
    return time.monotonic() - started
