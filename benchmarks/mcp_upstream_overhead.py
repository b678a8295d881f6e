"""Overhead of calling an upstream MCP server's tool through the gateway.

    DATABASE_URL=postgres://… python benchmarks/mcp_upstream_overhead.py \
        [--seconds 5] [--conns 1,16]

Starts a bare echo MCP server (the SDK's MCPServer over streamable HTTP under
uvicorn), registers it as upstream `bench`, starts `manage.py serve`, then
measures, one after the other and each from its own client process:

- direct: the SDK client calling the upstream's `echo` itself (what an agent
  would do without the gateway);
- gateway: a WebSocket agent calling `bench__echo` through the gateway (the
  pipeline, then the gateway's open SDK session to the upstream);
- builtin: the same agent calling the built-in `echo` (the gateway alone).

Every call has a distinct text, so none is answered from a cache. It prints
calls/s and p50/p99 per case and the overhead per call (gateway p50 minus
direct p50). The database is created afresh and dropped. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
WARMUP_SECS = 1.0
START_TIMEOUT_SECS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _upstream(port: int) -> None:
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp_types import ToolAnnotations

    server = MCPServer("bench-upstream")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Return the text."""
        return text

    uvicorn.run(
        server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning"
    )


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    latencies.sort()
    return {
        "calls_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


async def _direct(url: str, conns: int, seconds: float) -> dict[str, float]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []
    measure_from = time.perf_counter() + WARMUP_SECS
    deadline = measure_from + seconds

    async def one() -> None:
        async with streamable_http_client(url) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                prefix = secrets.token_hex(4)
                n = 0
                while (started := time.perf_counter()) < deadline:
                    n += 1
                    await session.call_tool("echo", {"text": f"{prefix}-{n}"})
                    if started >= measure_from:
                        latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(conns)))
    return _summary(latencies, seconds)


async def _websocket(
    url: str, token: str, tool: str, conns: int, seconds: float
) -> dict[str, float]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    measure_from = time.perf_counter() + WARMUP_SECS
    deadline = measure_from + seconds

    async def one() -> None:
        async with connect(url, compression=None, max_size=None) as ws:
            await ws.send(json.dumps({"op": "hello", "token": token}))
            assert json.loads(await ws.recv())["ok"] is True
            prefix = secrets.token_hex(4)
            n = 0
            while (started := time.perf_counter()) < deadline:
                n += 1
                rid = f"{prefix}-{n}"
                await ws.send(
                    json.dumps(
                        {
                            "op": "call_tool",
                            "name": tool,
                            "request_id": rid,
                            "arguments": {"text": rid},
                        }
                    )
                )
                while (reply := json.loads(await ws.recv()))["op"] != "call_tool_res":
                    pass
                if "error" in reply:
                    raise SystemExit(f"call failed: {reply}")
                if started >= measure_from:
                    latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(conns)))
    return _summary(latencies, seconds)


def _client(args: argparse.Namespace) -> None:
    if args.case == "direct":
        result = asyncio.run(_direct(args.url, args.conns, args.seconds))
    else:
        token = os.environ["BENCH_TOKEN"]
        result = asyncio.run(
            _websocket(args.url, token, args.tool, args.conns, args.seconds)
        )
    print(json.dumps(result))


def _wait_for(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _measure(case: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [PYTHON, __file__, "client", *case],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _orchestrate(args: argparse.Namespace) -> None:
    from benchmarks._common import create_database, drop_database, setup_django

    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cp_bench"
    )
    create_database(database_url)
    setup_django(database_url)
    from bus.gateway.upstreams import services
    from controlplane.tokens import agent_token_create

    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    upstream_port, serve_port = _free_port(), _free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
    upstream = subprocess.Popen(
        [PYTHON, __file__, "upstream", str(upstream_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    serve: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(upstream_port, upstream, "the upstream")
        services.upstream_add(name="bench", url=upstream_url)
        services.upstream_refresh(name="bench", connect_timeout=10)
        _, token = agent_token_create(name="bench")
        serve_env = {
            **env,
            "BENCH_TOKEN": token,
            "WS_GLOBAL_MAX_INFLIGHT": "1000",
            "DATA_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-mcp"),
        }
        serve = subprocess.Popen(
            [PYTHON, "manage.py", "serve", "--port", str(serve_port)],
            cwd=ROOT,
            env=serve_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(serve_port, serve, "serve")
        ws_url = f"ws://127.0.0.1:{serve_port}/ws/"
        rows = []
        for conns in args.conns:
            common = ["--conns", str(conns), "--seconds", str(args.seconds)]
            direct = _measure(["direct", "--url", upstream_url, *common], serve_env)
            gateway = _measure(
                ["ws", "--url", ws_url, "--tool", "bench__echo", *common], serve_env
            )
            builtin = _measure(
                ["ws", "--url", ws_url, "--tool", "echo", *common], serve_env
            )
            rows.append((conns, direct, gateway, builtin))
        print("| case | conns | calls/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for conns, *cases in rows:
            for name, result in zip(
                ("direct", "gateway", "builtin"), cases, strict=True
            ):
                print(
                    f"| {name} | {conns} | {result['calls_per_s']:.0f} | "
                    f"{result['p50_ms']:.2f} | {result['p99_ms']:.2f} |"
                )
        print()
        print("| conns | overhead per call, p50 ms | gateway/direct calls/s |")
        print("|---:|---:|---:|")
        for conns, direct, gateway, _ in rows:
            print(
                f"| {conns} | {gateway['p50_ms'] - direct['p50_ms']:.2f} | "
                f"{gateway['calls_per_s'] / direct['calls_per_s']:.2f} |"
            )
    finally:
        if serve is not None:
            _stop(serve)
        _stop(upstream)
        drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role")
    sub.add_parser("upstream").add_argument("port", type=int)
    client = sub.add_parser("client")
    client.add_argument("case", choices=["direct", "ws"])
    client.add_argument("--url", required=True)
    client.add_argument("--tool", default="")
    client.add_argument("--conns", type=int, default=1)
    client.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--conns", type=lambda raw: [int(n) for n in raw.split(",")], default=[1, 16]
    )
    args = parser.parse_args()
    if args.role == "upstream":
        _upstream(args.port)
    elif args.role == "client":
        _client(args)
    else:
        _orchestrate(args)


if __name__ == "__main__":
    main()
