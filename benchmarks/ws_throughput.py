"""WebSocket throughput: our gateway, a raw websockets echo and a bare Channels echo.

    python benchmarks/ws_throughput.py [--seconds 5] [--conns 1,16,64]
        [--servers raw,bare-daphne,ours-daphne,bare-uvicorn,ours-uvicorn]
    python benchmarks/ws_throughput.py --redis redis://127.0.0.1:6379/3 \
        [--workers 2] [--server daphne] [--conns 64] [--clients 2]
    python benchmarks/ws_throughput.py --records [--repeat 3] [--conns 64]
        [--servers ours-daphne]

Starts each server in its own process (ours with `manage.py serve`), drives it
from separate client processes with N connections doing `call_tool echo` round
trips (each waits for its `call_tool_res`), and prints calls/s and p50/p99
latency, with the ratios ours/raw and ours/bare under the same server. Ours
needs a migrated database (DATABASE_URL or the SQLite default); the script
creates a throwaway agent token. Not run by CI.

With `--redis URL` the servers are ours in memory, ours with REDIS_URL (one
worker), and with `--workers N` also `serve --workers N` on Redis: it prints
redis/memory and N workers/one, and the CPU seconds the clients and the
servers used during each run, to tell a server limit from a client one.
A server name is `ours-<daphne|uvicorn>[+redis][xN]`.
With --records, each of our servers runs alternately with call records on and
off (CALL_HISTORY_ENABLED), --repeat times each, and the script prints the
median calls/s of both and their ratio: what writing the call history costs.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WARMUP_SECS = 1.0
DEFAULT_SERVERS = "raw,bare-daphne,ours-daphne,bare-uvicorn,ours-uvicorn"
START_TIMEOUT_SECS = 30
RECORDS_SETTLE_SECS = 1.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The raw server: websockets alone, same JSON in and out.


def echo_reply(frame: dict[str, Any]) -> dict[str, Any]:
    """Answer a frame as the minimal echo servers do: hello_ack or call_tool_res."""
    if frame.get("op") == "hello":
        return {"op": "hello_ack", "ok": True}
    text = frame.get("arguments", {}).get("text", "")
    return {
        "op": "call_tool_res",
        "request_id": frame.get("request_id"),
        "outputs": [{"type": "text", "text": text}],
        "text": text,
    }


async def _raw_handler(ws: Any) -> None:
    async for message in ws:
        reply = echo_reply(json.loads(message))
        await ws.send(json.dumps(reply, separators=(",", ":")))


async def _raw_server(port: int) -> None:
    from websockets.asyncio.server import serve

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(_raw_handler, "127.0.0.1", port, compression=None):
        await stop


# The client: N connections, each a loop of call_tool round trips.


async def _connection(
    url: str, token: str, deadline: float, measure_from: float, latencies: list[float]
) -> int:
    from websockets.asyncio.client import connect

    done = 0
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"op": "hello", "token": token}))
        ack = json.loads(await ws.recv())
        if not ack.get("ok"):
            raise SystemExit(f"hello refused: {ack}")
        prefix = secrets.token_hex(4)
        n = 0
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return done
            n += 1
            request_id = f"{prefix}-{n}"
            # Distinct text per call: every call runs the whole pipeline
            # instead of being answered by the semantic cache.
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
            while True:
                reply = json.loads(await ws.recv())
                if reply["op"] == "call_tool_res":
                    break
            if "error" in reply:
                raise SystemExit(f"call failed: {reply}")
            if started >= measure_from:
                latencies.append(time.perf_counter() - started)
                done += 1


async def _client(url: str, token: str, conns: int, seconds: float) -> dict[str, Any]:
    start = time.perf_counter()
    measure_from = start + WARMUP_SECS
    deadline = measure_from + seconds
    latencies: list[float] = []
    counts = await asyncio.gather(
        *(
            _connection(url, token, deadline, measure_from, latencies)
            for _ in range(conns)
        )
    )
    return {"calls": sum(counts), "latencies": latencies, "cpu_s": time.process_time()}


# The orchestrator.


def _cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) of a process and its descendants."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Fields after the command name (which may hold spaces): utime is
            # the 12th, stime the 13th.
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            child_pids = [int(child) for child in children.read().split()]
    except FileNotFoundError:
        # Exited between the listing and the read: it no longer uses CPU.
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(child) for child in child_pids)


class Server:
    """One server under test, in its own process."""

    def __init__(
        self, name: str, env: dict[str, str], redis_url: str = "", token: str = ""
    ) -> None:
        self.name, self.token = name, token
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        base, _, workers = name.partition("x")
        self.workers = int(workers or 1)
        self.kind, _, server = base.partition("-")
        self.server, _, shared = server.partition("+")
        self.env = dict(env)
        if shared == "redis":
            if not redis_url:
                raise SystemExit(f"{name} needs --redis URL")
            self.env["REDIS_URL"] = redis_url

    def cpu_seconds(self) -> float:
        """Return the CPU time the server's processes used so far."""
        assert self.process is not None
        return _cpu_seconds(self.process.pid)

    def command(self) -> list[str]:
        kind, server, port = self.kind, self.server, str(self.port)
        if kind == "raw":
            return [PYTHON, __file__, "raw-server", "--port", port]
        if kind == "ours":
            workers = ["--workers", str(self.workers)] if self.workers > 1 else []
            return [
                PYTHON, "manage.py", "serve", "--port", port, "--server", server,
                *workers,
            ]  # fmt: skip
        app = "benchmarks.bare_channels:application"
        if server == "uvicorn":
            return [
                PYTHON, "-m", "uvicorn", app, "--port", port, "--lifespan", "off",
                "--no-access-log", "--ws-per-message-deflate", "false",
                "--log-level", "warning",
            ]  # fmt: skip
        return [PYTHON, "-m", "daphne", "-p", port, app]

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{self.name} did not start")
        if self.kind == "ours" and self.workers > 1:
            # The parent listens before its workers are up: measuring at once
            # would count their start-up as the deployment's slowness.
            asyncio.run(self._workers_answering(deadline))
        return self

    async def _workers_answering(self, deadline: float) -> None:
        from websockets.asyncio.client import connect

        seen: set[str] = set()
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name}: only {len(seen)} workers answered")
            async with connect(f"ws://127.0.0.1:{self.port}/ws/") as ws:
                await ws.send(json.dumps({"op": "hello", "token": self.token}))
                await ws.recv()
                await ws.send(json.dumps({"op": "health"}))
                while (reply := json.loads(await ws.recv()))["op"] != "health_res":
                    continue
                seen.add(reply["health"]["worker"])

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _run_clients(
    server: Server, token: str, conns: int, seconds: float, clients: int
) -> dict[str, Any]:
    """Drive the server from `clients` processes sharing `conns` connections."""
    shares = [
        conns // clients + (1 if n < conns % clients else 0) for n in range(clients)
    ]
    server_cpu = server.cpu_seconds()
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [
                PYTHON,
                __file__,
                "client",
                "--url",
                f"ws://127.0.0.1:{server.port}/ws/",
                # One argument: a token may start with "-", which argparse
                # would otherwise take for an option.
                f"--token={token}",
                "--conns",
                str(share),
                "--seconds",
                str(seconds),
            ],  # fmt: skip
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
        if share
    ]
    outputs = [json.loads(process.communicate()[0]) for process in running]
    if any(process.returncode for process in running):
        raise SystemExit(f"a client of {server.name} failed")
    wall = time.perf_counter() - started
    latencies = sorted(lat for out in outputs for lat in out["latencies"])
    return {
        "calls_per_s": sum(out["calls"] for out in outputs) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        # Cores busy on average over the whole run (warm-up included).
        "client_cores": sum(out["cpu_s"] for out in outputs) / wall,
        "server_cores": (server.cpu_seconds() - server_cpu) / wall,
    }


def _token(env: dict[str, str]) -> str:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "create_agent_token", f"bench-{secrets.token_hex(4)}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        # Heavy load on a 2-core box: do not let limits shape the measurement.
        "WS_GLOBAL_MAX_INFLIGHT": "1000",
        "WS_METRICS_PATH": os.environ.get(
            "WS_METRICS_PATH", "/tmp/ws_throughput.metrics.jsonl"
        ),
    }


def _benchmark(args: argparse.Namespace) -> None:
    env = _environment()
    token = _token(env)
    conns = [int(n) for n in args.conns.split(",")]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for name in _servers(args):
        with Server(name, env, args.redis, token) as server:
            results[name] = {}
            for n in conns:
                results[name][n] = _run_clients(
                    server, token, n, args.seconds, args.clients
                )
                row = results[name][n]
                print(
                    f"{name:20} conns={n:3}  {row['calls_per_s']:9.0f} calls/s  "
                    f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                    f"cores: client {row['client_cores']:.2f} "
                    f"server {row['server_cores']:.2f}  "
                    f"{row['calls_per_s'] / max(row['server_cores'], 0.01):5.0f} "
                    "calls per server core-second",
                    flush=True,
                )
    print()
    _shared_state_ratios(results, conns)
    for name in results:
        if not name.startswith("ours-"):
            continue
        server = name.split("-", 1)[1]
        for n in conns:
            ours = results[name][n]["calls_per_s"]
            parts = [f"{name} conns={n:3}"]
            if "raw" in results:
                parts.append(f"ours/raw {ours / results['raw'][n]['calls_per_s']:.2f}")
            bare = results.get(f"bare-{server}")
            if bare:
                parts.append(f"ours/bare {ours / bare[n]['calls_per_s']:.2f}")
            print("  ".join(parts))


def _servers(args: argparse.Namespace) -> list[str]:
    if args.servers:
        return args.servers.split(",")
    if not args.redis:
        return DEFAULT_SERVERS.split(",")
    names = [f"ours-{args.server}", f"ours-{args.server}+redis"]
    if args.workers > 1:
        names.append(f"ours-{args.server}+redisx{args.workers}")
    return names


def _shared_state_ratios(
    results: dict[str, dict[int, dict[str, Any]]], conns: list[int]
) -> None:
    """Print redis/memory (one worker each) and N workers/one (both on Redis)."""
    for name in results:
        base, _, workers = name.partition("x")
        if not base.endswith("+redis"):
            continue
        against = base if workers else base.removesuffix("+redis")
        if against not in results:
            continue
        label = f"{workers} workers/one" if workers else "redis/memory"
        for n in conns:
            ratio = results[name][n]["calls_per_s"] / results[against][n]["calls_per_s"]
            print(f"{name} conns={n:3}  {label} {ratio:.2f}")


def _records_benchmark(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Run each of our servers with call records on and off, alternately."""
    token = _token(env)
    conns = [int(n) for n in args.conns.split(",")]
    for name in args.servers.split(",") if args.servers else ["ours-daphne"]:
        if not name.startswith("ours-"):
            raise SystemExit(f"--records compares our servers only, not {name}")
        rates: dict[tuple[str, int], list[float]] = {}
        cpus: dict[tuple[str, int], list[float]] = {}
        # Alternating on and off (on first in even rounds, off first in odd
        # ones) spreads the machine's changing load over both.
        for round_number in range(args.repeat):
            order = ("true", "false") if round_number % 2 == 0 else ("false", "true")
            for records in order:
                with Server(
                    name, {**env, "CALL_HISTORY_ENABLED": records}, args.redis, token
                ) as server:
                    for n in conns:
                        before = server.cpu_seconds()
                        row = _run_clients(server, token, n, args.seconds, args.clients)
                        # The call history writes its last batch within a flush
                        # interval (1 s): let it land inside the measurement.
                        time.sleep(RECORDS_SETTLE_SECS)
                        # Warm-up included: CPU over every call the client made.
                        calls = row["calls_per_s"] * (args.seconds + WARMUP_SECS)
                        cpu_us = 1e6 * (server.cpu_seconds() - before) / calls
                        rates.setdefault((records, n), []).append(row["calls_per_s"])
                        cpus.setdefault((records, n), []).append(cpu_us)
                        print(
                            f"{name:14} records={records:5} conns={n:3}  "
                            f"{row['calls_per_s']:9.0f} calls/s  "
                            f"p50 {row['p50_ms']:6.2f} ms  "
                            f"p99 {row['p99_ms']:6.2f} ms  "
                            f"server CPU {cpu_us:5.0f} us/call",
                            flush=True,
                        )
        for n in conns:
            on = statistics.median(rates[("true", n)])
            off = statistics.median(rates[("false", n)])
            # Each on run against the off run of its round: the machine's
            # load drifts less within a round than across the benchmark.
            paired = statistics.median(
                a / b
                for a, b in zip(rates[("true", n)], rates[("false", n)], strict=True)
            )
            cpu_on = statistics.median(cpus[("true", n)])
            cpu_off = statistics.median(cpus[("false", n)])
            print(
                f"{name} conns={n:3}  median calls/s with records {on:.0f}, "
                f"without {off:.0f}: ratio {on / off:.3f}; median of the "
                f"{args.repeat} paired ratios {paired:.3f}; median server CPU "
                f"per call {cpu_on:.0f} us with, {cpu_off:.0f} us without "
                f"(ratio {cpu_on / cpu_off:.3f})"
            )


def main() -> None:
    """Parse the command line: the benchmark, or one of its helper processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role")
    raw = sub.add_parser("raw-server")
    raw.add_argument("--port", type=int, required=True)
    client = sub.add_parser("client")
    client.add_argument("--url", required=True)
    client.add_argument("--token", required=True)
    client.add_argument("--conns", type=int, required=True)
    client.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--conns", default="1,16,64")
    parser.add_argument(
        "--servers",
        default="",
        help=f"comma-separated server names (default {DEFAULT_SERVERS}; with "
        "--redis: ours in memory, on Redis, and --workers N on Redis)",
    )
    parser.add_argument(
        "--redis", default="", help="REDIS_URL for the +redis servers (a test db)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="with --redis: also serve --workers N"
    )
    parser.add_argument(
        "--server", default="daphne", choices=("daphne", "uvicorn"), help="with --redis"
    )
    parser.add_argument(
        "--clients", type=int, default=1, help="client processes sharing --conns"
    )
    parser.add_argument(
        "--records",
        action="store_true",
        help="compare our servers with call records on and off",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.role == "raw-server":
        asyncio.run(_raw_server(args.port))
    elif args.role == "client":
        result = asyncio.run(_client(args.url, args.token, args.conns, args.seconds))
        print(json.dumps(result))
    elif args.records:
        _records_benchmark(args, _environment())
    else:
        _benchmark(args)


if __name__ == "__main__":
    main()
