"""Idle authenticated sessions on one worker: RSS per session and a hello storm.

    DATABASE_URL=postgres://… python benchmarks/connections.py [--sessions 5000]
        [--storm 1000] [--server uvicorn|daphne|raw]

Starts `manage.py serve` (one worker, as ws_throughput.py does), reads its RSS
(VmRSS of /proc/<pid>/status), opens --sessions WebSocket connections that each
send a hello and then stay idle, and reads the RSS again: the difference over
the sessions is the memory one idle session costs the worker. Then it opens
--storm more connections at once, each sending its hello, and prints the
percentiles of the time from connecting to the `hello_ack`. The file-descriptor
limit of this process (and so of the server it starts) is raised to its hard
limit here, never in the system. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from ws_throughput import Server, _environment, _token

OPEN_BATCH = 200
# A storm queues handshakes for seconds: wait for them rather than fail.
OPEN_TIMEOUT_SECS = 60
SETTLE_SECS = 2.0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"the hard fd limit {hard} is below the {needed} needed")


async def _hello(url: str, token: str) -> tuple[Any, float]:
    from websockets.asyncio.client import connect

    started = time.perf_counter()
    ws = await connect(url, compression=None, open_timeout=OPEN_TIMEOUT_SECS)
    await ws.send(json.dumps({"op": "hello", "token": token}))
    ack = json.loads(await ws.recv())
    if not ack.get("ok"):
        raise SystemExit(f"hello refused: {ack}")
    return ws, time.perf_counter() - started


async def _measure(server: Server, token: str, sessions: int, storm: int) -> None:
    assert server.process is not None
    url = f"ws://127.0.0.1:{server.port}/ws/"
    await asyncio.sleep(SETTLE_SECS)
    before = _rss_kib(server.process.pid)
    idle: list[Any] = []
    for start in range(0, sessions, OPEN_BATCH):
        batch = min(OPEN_BATCH, sessions - start)
        idle += [ws for ws, _ in await asyncio.gather(
            *(_hello(url, token) for _ in range(batch))
        )]  # fmt: skip
    await asyncio.sleep(SETTLE_SECS)
    after = _rss_kib(server.process.pid)
    per_session = (after - before) / sessions
    print(
        f"{server.name}: {sessions} idle sessions, RSS {before // 1024} MiB -> "
        f"{after // 1024} MiB, {per_session:.1f} KiB per session"
    )
    started = time.perf_counter()
    stormed = await asyncio.gather(*(_hello(url, token) for _ in range(storm)))
    wall = time.perf_counter() - started
    latencies = sorted(latency for _, latency in stormed)
    print(
        f"storm of {storm} hellos on top: all answered in {wall:.2f} s, "
        f"p50 {1000 * statistics.median(latencies):.1f} ms, "
        f"p99 {1000 * latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms, "
        f"max {1000 * latencies[-1]:.1f} ms"
    )
    await asyncio.gather(*(ws.close() for ws in idle + [ws for ws, _ in stormed]))


def main() -> None:
    """Parse the command line, start the server and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--storm", type=int, default=1000)
    parser.add_argument(
        "--server",
        default="uvicorn",
        choices=("uvicorn", "daphne", "raw"),
        help="raw: ws_throughput's websockets echo, the baseline for the storm",
    )
    args = parser.parse_args()
    # Two descriptors per connection in this process and the server's one,
    # plus room for the interpreter's own files.
    _raise_fd_limit(args.sessions + args.storm + 1024)
    env = _environment()
    token = _token(env)
    name = "raw" if args.server == "raw" else f"ours-{args.server}"
    with Server(name, env, token=token) as server:
        asyncio.run(_measure(server, token, args.sessions, args.storm))


if __name__ == "__main__":
    main()
