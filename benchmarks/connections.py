"""Idle authenticated sessions on one worker: RSS per session and a hello storm.

    DATABASE_URL=postgres://… python benchmarks/connections.py [--sessions 5000]
        [--storm 1000] [--storm-seconds 5] [--server uvicorn|daphne|raw]

Starts `manage.py serve` (one worker, as ws_throughput.py does), reads its RSS
(VmRSS of /proc/<pid>/status), opens --sessions WebSocket connections that each
send a hello and then stay idle, and reads the RSS again: the difference over
the sessions is the memory one idle session costs the worker. Then the storm:
--storm more connections, each sending its hello, started evenly over
--storm-seconds (the issue's "1,000 hellos in 5 s": one every 5 ms), or all at
once with --storm-seconds 0. It prints the percentiles of the time from a
connection's scheduled start to its `hello_ack` (so a client that falls behind
counts against the server, never for it), of the hello alone (sent to
answered, the server's token check without the TCP and WebSocket handshakes),
and how late the client started its last connection. The file-descriptor
limit of this process (and so of the server it starts) is raised to its hard
limit here, never in the system. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
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


class Hello:
    """One session's hello: its socket and how long each part took."""

    def __init__(self, ws: Any, total: float, hello: float, late: float) -> None:
        self.ws, self.total, self.hello, self.late = ws, total, hello, late


async def _hello(url: str, token: str, scheduled: float | None = None) -> Hello:
    from websockets.asyncio.client import connect

    started = time.perf_counter()
    scheduled = started if scheduled is None else scheduled
    ws = await connect(url, compression=None, open_timeout=OPEN_TIMEOUT_SECS)
    sent = time.perf_counter()
    await ws.send(json.dumps({"op": "hello", "token": token}))
    ack = json.loads(await ws.recv())
    if not ack.get("ok"):
        raise SystemExit(f"hello refused: {ack}")
    answered = time.perf_counter()
    return Hello(ws, answered - scheduled, answered - sent, started - scheduled)


async def _paced(url: str, token: str, count: int, seconds: float) -> list[Hello]:
    """Start `count` hellos evenly over `seconds` (all at once for 0)."""
    origin = time.perf_counter()
    interval = seconds / count

    async def one(n: int) -> Hello:
        scheduled = origin + n * interval
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        return await _hello(url, token, scheduled)

    return await asyncio.gather(*(one(n) for n in range(count)))


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(share: float) -> float:
        return 1000 * ordered[int(share * (len(ordered) - 1))]

    return (
        f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {1000 * ordered[-1]:.1f} ms"
    )


async def _measure(
    server: Server, token: str, sessions: int, storm: int, storm_seconds: float
) -> None:
    assert server.process is not None
    url = f"ws://127.0.0.1:{server.port}/ws/"
    await asyncio.sleep(SETTLE_SECS)
    before = _rss_kib(server.process.pid)
    idle: list[Any] = []
    for start in range(0, sessions, OPEN_BATCH):
        batch = min(OPEN_BATCH, sessions - start)
        idle += [h.ws for h in await asyncio.gather(
            *(_hello(url, token) for _ in range(batch))
        )]  # fmt: skip
    await asyncio.sleep(SETTLE_SECS)
    after = _rss_kib(server.process.pid)
    per_session = (after - before) / max(sessions, 1)
    print(
        f"{server.name}: {sessions} idle sessions, RSS {before // 1024} MiB -> "
        f"{after // 1024} MiB, {per_session:.1f} KiB per session"
    )
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    stormed = await _paced(url, token, storm, storm_seconds)
    wall = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    mode = f"over {storm_seconds:g} s" if storm_seconds else "at once"
    print(
        f"storm of {storm} hellos {mode} on top: all answered in {wall:.2f} s, "
        f"server CPU {1000 * cpu / storm:.2f} ms per hello, "
        f"client up to {1000 * max(h.late for h in stormed):.1f} ms late"
    )
    print(f"  connect + hello: {_percentiles([h.total for h in stormed])}")
    print(f"  hello alone:     {_percentiles([h.hello for h in stormed])}")
    await asyncio.gather(*(ws.close() for ws in idle + [h.ws for h in stormed]))


def main() -> None:
    """Parse the command line, start the server and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--storm", type=int, default=1000)
    parser.add_argument(
        "--storm-seconds",
        type=float,
        default=5.0,
        help="start the storm's hellos evenly over this many seconds; 0: at once",
    )
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
        asyncio.run(
            _measure(server, token, args.sessions, args.storm, args.storm_seconds)
        )


if __name__ == "__main__":
    main()
