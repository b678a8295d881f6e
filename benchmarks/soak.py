"""Soak: well-behaved agents keep working while hostile agents and an outage hit.

    python benchmarks/soak.py [--minutes 5] [--quiet-seconds 30] [--agents 4]
        [--outage-seconds 30] [--server daphne|uvicorn]

1. Create a scratch database, migrate it, create agent tokens.
2. Start `manage.py serve` on a free port.
3. Quiet run: only the well-behaved agents, for --quiet-seconds (their p99
   is the baseline).
4. Soak: for --minutes, the same agents run mixed calls (echo, sleep, 2-5 MiB
   results through the bus, fetched in chunks, checked byte for byte, then
   acked) while hostile agents loop over the faults of the hardening issue
   (NUL and malformed transaction ids, NaN, lone surrogates, deep nesting,
   bad tokens in a loop, forged log lines, reused request ids, a flood of
   calls, a client that never reads). In the middle the database becomes
   unreachable for --outage-seconds: it stops accepting connections and
   every backend is terminated.
5. Report: calls answered and lost for the well-behaved agents, results not
   byte-exact, their p99 against the quiet run, the server's peak RSS, error
   counts by code.

Every well-behaved call must be answered: a claim check that cannot be
fetched during the outage is fetched again until it is (bounded); a lost
connection reconnects and resends the same request_id (the replay promise).
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import admin_url, create_database, drop_database  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cp_soak"
PYTHON = sys.executable
MIB = 1024 * 1024
RECEIVE_TIMEOUT_SECS = 60
FETCH_RETRY_SECS = 120
START_TIMEOUT_SECS = 30
SLOW_READER_CALLS = 400


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _token(name: str, env: dict[str, str]) -> str:
    return _manage("create_agent_token", name, env=env).strip().splitlines()[-1]


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Tally:
    """What the well-behaved agents saw."""

    answered: int = 0
    lost: int = 0
    mismatched: int = 0
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)
    codes: Counter = field(default_factory=Counter)

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[int(0.99 * (len(ordered) - 1))]


class Agent:
    """A well-behaved agent: one connection, reconnecting when it drops."""

    def __init__(self, url: str, token: str, tally: Tally, seed: int) -> None:
        self.url, self.token, self.tally = url, token, tally
        self.rng = random.Random(seed)
        self.prefix = secrets.token_hex(4)
        self.n = 0
        self.ws: Any = None

    async def _connect(self) -> None:
        from websockets.asyncio.client import connect

        while True:
            try:
                self.ws = await connect(self.url, max_size=None, compression=None)
                await self.ws.send(json.dumps({"op": "hello", "token": self.token}))
                ack = json.loads(await self.ws.recv())
                if ack.get("ok"):
                    return
            except OSError:
                pass  # the server is restarting or refusing: try again
            except Exception as exc:  # noqa: BLE001  (any closed socket: retry)
                self.tally.codes[f"connect:{type(exc).__name__}"] += 1
            await asyncio.sleep(1)

    async def run(self, deadline: float) -> None:
        await self._connect()
        while time.monotonic() < deadline:
            self.n += 1
            request_id = f"{self.prefix}-{self.n}"
            kind = self.rng.choice(["echo", "echo", "sleep", "big"])
            if kind == "echo":
                name, arguments = "echo", {"text": request_id}
                expected: str | int = request_id
            elif kind == "sleep":
                name, arguments = "sleep", {"seconds": 0.05}
                expected = "slept 0.05"
            else:
                size = self.rng.randint(2 * MIB, 5 * MIB)
                seed = self.rng.randrange(1 << 30)
                name, arguments = "generate", {"bytes": size, "seed": seed}
                expected = size
            started = time.perf_counter()
            text = await self._call(request_id, name, arguments)
            if text is None:
                self.tally.lost += 1
                continue
            self.tally.answered += 1
            self.tally.latencies.append(time.perf_counter() - started)
            # generate's text is checked by its length here and by the
            # SHA-256 of the fetched bytes against the claim check in _fetch.
            if text != expected and not (
                isinstance(expected, int) and len(text) == expected
            ):
                self.tally.mismatched += 1

    async def _call(
        self, request_id: str, name: str, arguments: dict[str, Any]
    ) -> str | None:
        frame = {
            "op": "call_tool",
            "name": name,
            "request_id": request_id,
            "arguments": arguments,
        }
        give_up = time.monotonic() + FETCH_RETRY_SECS
        while time.monotonic() < give_up:
            try:
                await self.ws.send(json.dumps(frame))
                reply = await self._result(request_id)
            except (ConnectionClosed, OSError, TimeoutError):
                # The connection dropped or the answer did not come: counted
                # as a reconnect in the report, and the call is sent again.
                self.tally.reconnects += 1
                await self._connect()
                continue
            error = reply.get("error")
            if error is not None:
                self.tally.codes[error["code"]] += 1
                if error["code"] in ("OVER_CAPACITY", "BUS_UNAVAILABLE"):
                    await asyncio.sleep(error.get("retry_after") or 1)
                    frame["request_id"] = request_id = f"{request_id}r"
                    continue
                return None
            if "bus" in reply:
                return await self._fetch(reply["bus"], give_up)
            return reply["outputs"][0]["text"]
        return None

    async def _result(self, request_id: str) -> dict[str, Any]:
        while True:
            reply = json.loads(
                await asyncio.wait_for(self.ws.recv(), RECEIVE_TIMEOUT_SECS)
            )
            if reply.get("op") == "call_tool_res" and reply["request_id"] == request_id:
                return reply

    async def _fetch(self, ref: dict[str, Any], give_up: float) -> str | None:
        txn = ref["transaction_id"]
        while time.monotonic() < give_up:
            await self.ws.send(json.dumps({"op": "bus_fetch", "transaction_id": txn}))
            pieces: list[bytes] = []
            while True:
                reply = json.loads(
                    await asyncio.wait_for(self.ws.recv(), RECEIVE_TIMEOUT_SECS)
                )
                if reply.get("op") == "bus_chunk" and reply["transaction_id"] == txn:
                    pieces.append(base64.b64decode(reply["data"]))
                elif reply.get("op") == "bus_fetch_res":
                    break
            if "error" in reply:
                self.tally.codes[f"fetch:{reply['error']['code']}"] += 1
                await asyncio.sleep(1)
                continue
            data = b"".join(pieces)
            if "sha256:" + hashlib.sha256(data).hexdigest() != ref["checksum"]:
                self.tally.mismatched += 1
            await self.ws.send(json.dumps({"op": "bus_ack", "transaction_id": txn}))
            return json.loads(data)["outputs"][0]["text"]
        return None


async def _raw(url: str, frames: list[str], *, read: bool = True) -> None:
    from websockets.asyncio.client import connect

    # Refused and closed is the server's right answer to a hostile client: the
    # soak counts faults sent, and checks the server with the honest agents.
    try:
        async with connect(url, max_size=None, compression=None) as ws:
            for text in frames:
                await ws.send(text)
                if read:
                    await asyncio.wait_for(ws.recv(), 5)
    except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
        return


async def _hostile(url: str, http: str, token: str, deadline: float) -> Counter:
    """Loop over the faults; each is a client the server must survive."""
    hello = json.dumps({"op": "hello", "token": token})
    deep = '{"op":"call_tool","name":"echo","arguments":' + "[" * 2000 + "]" * 2000
    faults = {
        "nul_txn": [hello, '{"op":"bus_fetch","transaction_id":"txn_\\u0000"}'],
        "bad_txn": [hello, '{"op":"bus_fetch","transaction_id":"nope"}'],
        "nan": [hello, '{"op":"call_tool","name":"sleep","arguments":{"seconds":NaN}}'],
        "surrogate": ['{"op":"hello","token":"\\ud800"}'],
        "deep": [hello, deep + "}"],
        "bad_token": [json.dumps({"op": "hello", "token": "wrong"})],
        "forged_log": [
            json.dumps(
                {"op": "hello", "token": token, "client": {"name": "x\nERROR forged"}}
            )
        ],
        "reused_id": [
            hello,
            '{"op":"call_tool","name":"echo","request_id":"same","arguments":{"text":"a"}}',
            '{"op":"call_tool","name":"echo","request_id":"same","arguments":{"text":"b"}}',
        ],
    }
    ran: Counter = Counter()
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        for name, frames in faults.items():
            await _raw(url, frames)
            ran[name] += 1
        for path in ("/bus/%00/", "/bus/txn_zz/"):
            request = urllib.request.Request(
                http + path, headers={"Authorization": f"Bearer {token}"}
            )
            try:
                await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
            except OSError:
                ran["http_bad_txn"] += 1  # 404 (or refused): what we expect
        flood = [hello] + [
            json.dumps(
                {
                    "op": "call_tool",
                    "name": "echo",
                    "request_id": f"flood-{rounds}-{i}",
                    "arguments": {"text": f"{rounds}-{i}"},
                }
            )
            for i in range(50)
        ]
        await _raw(url, flood, read=False)
        ran["flood"] += 1
        if rounds % 10 == 1:
            slow = [hello] + [
                json.dumps(
                    {
                        "op": "call_tool",
                        "name": "generate",
                        "request_id": f"slow-{rounds}-{i}",
                        "arguments": {"bytes": 900_000, "seed": 1},
                    }
                )
                for i in range(SLOW_READER_CALLS)
            ]
            await _raw(url, slow, read=False)
            ran["slow_reader"] += 1
        await asyncio.sleep(0.2)
    return ran


def _outage(database_url: str, seconds: float) -> None:
    """Make the database unreachable for real, then bring it back."""
    url, name = admin_url(database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        time.sleep(seconds)
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


async def _phase(
    url: str,
    tokens: list[str],
    seconds: float,
    *,
    hostile: tuple[str, str] | None = None,
    outage: tuple[str, float] | None = None,
) -> tuple[Tally, Counter]:
    tally = Tally()
    deadline = time.monotonic() + seconds
    # Fresh seeds per phase: a call repeated across phases would be answered
    # from the semantic cache, which is not what a phase measures.
    agents = [Agent(url, token, tally, secrets.randbits(32)) for token in tokens]
    jobs = [agent.run(deadline) for agent in agents]
    if hostile is not None:
        jobs.append(_hostile(url, hostile[0], hostile[1], deadline))
    if outage is not None:
        database_url, length = outage

        async def later() -> None:
            await asyncio.sleep(max(0.0, (seconds - length) / 2))
            await asyncio.to_thread(_outage, database_url, length)

        jobs.append(later())
    results = await asyncio.gather(*jobs)
    ran = next((r for r in results if isinstance(r, Counter)), Counter())
    return tally, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--quiet-seconds", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument(
        "--no-hostile", action="store_true", help="Only the outage, no hostile agents."
    )
    options = parser.parse_args()

    create_database(options.database_url)
    port = _free_port()
    data = Path(f"/tmp/cp-soak-{port}")
    data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": options.database_url,
        "LOG_LEVEL": "WARNING",
        "WS_HEALTH_PATH": str(data / "health.json"),
        "WS_METRICS_PATH": str(data / "metrics.jsonl"),
        "CIRCUIT_BREAKER_TIMEOUT_SECS": "5",
    }
    _manage("migrate", "-v", "0", env=env)
    tokens = [_token(f"soak-{n}", env) for n in range(options.agents)]
    hostile_token = _token("soak-hostile", env)
    log = (data / "serve.log").open("wb")
    server = subprocess.Popen(
        [PYTHON, "manage.py", "serve", "--port", str(port), "--server", options.server]
        + ["--pid-file", str(data / "serve.pid")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        url, http = f"ws://127.0.0.1:{port}/ws/", f"http://127.0.0.1:{port}"
        peak = [0]

        async def watch_rss(stop: asyncio.Event) -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_bytes(server.pid))
                await asyncio.sleep(0.5)

        async def run() -> tuple[Tally, Tally, Counter]:
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_rss(stop))
            quiet, _ = await _phase(url, tokens, options.quiet_seconds)
            print(f"quiet: {quiet.answered} answered, p99 {quiet.p99_ms():.1f} ms")
            soak, ran = await _phase(
                url,
                tokens,
                options.minutes * 60,
                hostile=None if options.no_hostile else (http, hostile_token),
                outage=(options.database_url, options.outage_seconds),
            )
            stop.set()
            await watcher
            return quiet, soak, ran

        quiet, soak, ran = asyncio.run(run())
        _report(options, quiet, soak, ran, peak[0], server.poll() is None)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        drop_database(options.database_url)
        print(f"server log: {data / 'serve.log'}")


def _report(
    options: argparse.Namespace,
    quiet: Tally,
    soak: Tally,
    ran: Counter,
    peak_rss: int,
    alive: bool,
) -> None:
    ratio = soak.p99_ms() / quiet.p99_ms() if quiet.latencies else float("nan")
    print(
        f"\nsoak {options.minutes:g} min, {options.agents} agents, "
        f"{options.outage_seconds:g} s outage, {options.server}"
    )
    print("| what | value | goal |")
    print("|---|---:|---|")
    print(f"| well-behaved calls answered | {soak.answered} | every one |")
    print(f"| lost | {soak.lost} | 0 |")
    print(f"| results not byte-exact | {soak.mismatched} | 0 |")
    print(f"| reconnects | {soak.reconnects} | |")
    print(
        f"| p99 soak / quiet | {soak.p99_ms():.1f} / {quiet.p99_ms():.1f} ms "
        f"= {ratio:.2f} | <= 2 |"
    )
    print(f"| server peak RSS | {peak_rss / MIB:.0f} MiB | within the bound |")
    print(f"| server alive at the end | {alive} | yes |")
    print(f"\nerror codes seen by well-behaved agents: {dict(soak.codes)}")
    print(f"hostile clients run: {dict(ran)}")


if __name__ == "__main__":
    main()
