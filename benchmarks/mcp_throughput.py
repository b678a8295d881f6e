"""MCP throughput: tools/call echo over our /mcp/, over our WebSocket, and over a
bare FastMCP (MCPServer) echo server under uvicorn.

    python benchmarks/mcp_throughput.py [--seconds 4] [--sessions 1,16]
        [--targets bare-fastmcp,ours-mcp,ours-ws]

Starts each server in its own process, one after the other, and drives it from
this process with N concurrent sessions, each doing echo round trips with a
distinct text (so ours never answers from its caches). The MCP targets use the
SDK's own client (`ClientSession` over `streamable_http_client`, the
initialize handshake), the WebSocket target the `websockets` client. Prints
calls/s and p50/p99 latency, and the ratio ours/bare-fastmcp. Ours runs under
`manage.py serve --server uvicorn`, so both MCP servers are uvicorn; it needs a
migrated database (DATABASE_URL); the script creates a throwaway agent token.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WARMUP_SECS = 1.0
START_TIMEOUT_SECS = 30
HTTP_TIMEOUT = httpx2.Timeout(30, read=300)

BARE_FASTMCP = """
import sys, uvicorn
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare-echo")

@server.tool()
def echo(text: str) -> str:
    return text

uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


def _start(target: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    if target == "bare-fastmcp":
        command = [PYTHON, "-c", BARE_FASTMCP, str(port)]
        environment = dict(os.environ)
    else:
        command = [
            PYTHON,
            "manage.py",
            "serve",
            "--server",
            "uvicorn",
            "--port",
            str(port),
            "--pid-file",
            str(data_dir / f"serve-{port}.pid"),
        ]
        environment = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            # Limits must not shape the measurement: 16 sessions, one call each.
            "WS_GLOBAL_MAX_INFLIGHT": "1000",
        }
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    _wait_for_port(port, process)
    return process


async def _mcp_session_loop(
    url: str, token: str | None, until: float, latencies: list[float]
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=HTTP_TIMEOUT) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        while time.perf_counter() < until:
            text = uuid.uuid4().hex
            started = time.perf_counter()
            result = await session.call_tool("echo", {"text": text})
            assert result.content[0].text == text, result
            latencies.append(time.perf_counter() - started)


async def _ws_session_loop(
    url: str, token: str, until: float, latencies: list[float]
) -> None:
    async with ws_connect(url) as ws:
        await ws.send(json.dumps({"op": "hello", "token": token}))
        json.loads(await ws.recv())
        while time.perf_counter() < until:
            request_id = uuid.uuid4().hex
            started = time.perf_counter()
            await ws.send(
                json.dumps(
                    {
                        "op": "call_tool",
                        "name": "echo",
                        "request_id": request_id,
                        "arguments": {"text": request_id},
                    }
                )
            )
            while json.loads(await ws.recv())["op"] != "call_tool_res":
                pass
            latencies.append(time.perf_counter() - started)


async def _measure(
    target: str, port: int, token: str, sessions: int, seconds: float
) -> dict[str, Any]:
    if target == "ours-ws":
        url, loop = f"ws://127.0.0.1:{port}/ws/", _ws_session_loop
    else:
        url, loop = f"http://127.0.0.1:{port}/mcp/", _mcp_session_loop
    credential = None if target == "bare-fastmcp" else token
    # A warm-up round first: first-request costs (imports, the SDK manager's
    # start, connection set-up) are not throughput.
    await asyncio.gather(
        *(
            loop(url, credential, time.perf_counter() + WARMUP_SECS, [])
            for _ in range(sessions)
        )
    )
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(loop(url, credential, started + seconds, latencies) for _ in range(sessions))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "target": target,
        "sessions": sessions,
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def _token() -> str:
    name = f"bench-mcp-{uuid.uuid4().hex[:8]}"
    output = subprocess.run(
        [PYTHON, "manage.py", "create_agent_token", name],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sessions", default="1,16")
    parser.add_argument("--targets", default="bare-fastmcp,ours-mcp,ours-ws")
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-mcp"))
    options = parser.parse_args()
    data_dir = Path(options.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    token = _token()
    counts = [int(part) for part in options.sessions.split(",")]
    rows = []
    for target in options.targets.split(","):
        port = _free_port()
        process = _start(target, port, data_dir)
        try:
            for sessions in counts:
                rows.append(
                    asyncio.run(
                        _measure(target, port, token, sessions, options.seconds)
                    )
                )
                print(json.dumps(rows[-1]), flush=True)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()
    bare = {
        row["sessions"]: row["calls_per_s"]
        for row in rows
        if row["target"] == "bare-fastmcp"
    }
    print("\n| target | sessions | calls/s | p50 ms | p99 ms | vs bare FastMCP |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = (
            row["calls_per_s"] / bare[row["sessions"]]
            if row["sessions"] in bare
            else None
        )
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        print(
            f"| {row['target']} | {row['sessions']} | {row['calls_per_s']:.0f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {shown} |"
        )


if __name__ == "__main__":
    main()
