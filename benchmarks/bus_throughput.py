"""Message bus throughput: our store and fetch paths against a raw psycopg baseline.

For each payload kind, size and codec, in one run:

* ours store: ``ClaimStore.store`` (``bus_app().claims``, bus.store.claims) as
  ``bus.gateway.delivery.deliver_result`` calls it for a result above the
  threshold (thread hop, breaker, size check, compress, SHA-256, binary insert,
  event row); the JSON encoding of the outputs before it is not counted;
* ours fetch (socket): the consumer's ``AgentConsumer.op_bus_fetch``
  (bus.gateway.transports.websocket) with its frames counted instead of sent:
  ``ClaimStore.fetch`` (read, decompress, verify, event row), then base64 per
  512 KiB ``bus_chunk`` frame;
* ours fetch (HTTP): ``GET /bus/<txn>/`` through the served ASGI application
  (``controlplane.asgi.application``, what daphne or uvicorn call), token
  check included, body streamed and counted; only the socket is left out;
* raw store: the same codec call and SHA-256 plus one psycopg INSERT with a
  binary parameter into a bytea STORAGE EXTERNAL table;
* raw fetch: one psycopg SELECT with a binary result, decompress, SHA-256 (and
  base64 per 512 KiB chunk for the socket comparison).

Throughput is the uncompressed MiB per second (median of --repeat runs, ours
and raw alternating who goes first). Peak RSS is measured for the largest size
in a fresh process per operation: the kernel's high-water mark (VmHWM, reset
through /proc/self/clear_refs just before the operation), so it includes the
interpreter, Django and, for stores, the caller's copy of the payload.

    .venv/bin/python benchmarks/bus_throughput.py [--sizes 1,10,100] [--repeat 3]

Django's default CONN_MAX_AGE=0 reconnects on every bus call; pass
--database-url 'postgres://...?conn_max_age=60&conn_health_checks=true' to
measure with persistent connections, as the bus README recommends.

It creates its own database (cp_bench by default) and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import random
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import zstandard
from _common import (
    DEFAULT_DATABASE_URL,
    create_database,
    drop_database,
    libpq_url,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    setup_django,
)

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway
    from bus.gateway.transports.websocket import AgentConsumer
    from controlplane.models import AgentToken

T = TypeVar("T")

MIB = 1024 * 1024
CHUNK = 512 * 1024  # the consumer's CHUNK_BYTES, checked in Ours


def words_json(size: int, rng: random.Random) -> bytes:
    """A text output of English-like words, like the generate tool or a long answer."""
    vocabulary = [
        "".join(rng.choices("etaoinshrdlucmfwypvbgkjqxz", k=rng.randint(1, 11)))
        for _ in range(20_000)
    ]
    # Word frequencies in text follow Zipf's law: the rank-r word ~ 1/r.
    weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]
    text = " ".join(rng.choices(vocabulary, weights, k=size // 5 + 16))
    return _exact({"outputs": [{"type": "text", "text": text}]}, "text", size)


def mixed_json(size: int, rng: random.Random) -> bytes:
    """A text output holding JSON records: ids, numbers, names, hashes, timestamps."""
    records = []
    length = 0
    while length < size:
        record = {
            "id": rng.randrange(10**9),
            "name": " ".join(rng.choices(["alpha", "beta", "gamma", "delta"], k=3)),
            "score": round(rng.random() * 1000, 4),
            "sha": rng.randbytes(16).hex(),
            "at": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
            "tags": rng.sample(["red", "green", "blue", "cyan", "gold"], k=2),
        }
        encoded = json.dumps(record)
        records.append(encoded)
        length += len(encoded) + 3
    text = "[" + ", ".join(records) + "]"
    return _exact({"outputs": [{"type": "text", "text": text}]}, "text", size)


def _exact(doc: dict, field: str, size: int) -> bytes:
    """Cut the text so the document encodes to exactly size bytes (pad with spaces)."""
    output = doc["outputs"][0]
    excess = len(json.dumps(doc).encode()) - size
    if excess > 0:
        # Escapes make the encoding at least as long as the text: cutting excess
        # characters always lands at or below size; spaces then fill the gap.
        output[field] = output[field][: len(output[field]) - excess]
    data = json.dumps(doc).encode()
    output[field] += " " * (size - len(data))
    data = json.dumps(doc).encode()
    assert len(data) == size, (len(data), size)
    return data


def raw_compress(data: bytes, codec: str) -> bytes:
    from bus.store import codec as bus_codec

    if codec == "gzip":
        return zlib.compress(data, bus_codec.GZIP_LEVEL, wbits=31)
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=bus_codec.ZSTD_LEVEL).compress(data)
    return data


def raw_decompress(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return zlib.decompress(data, 47)
    if codec == "zstd":
        return zstandard.ZstdDecompressor().decompress(data)
    return data


class Raw:
    """The baseline: plain psycopg with binary parameters and results."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.conn = psycopg.connect(libpq_url(url), autocommit=True)
        if create:
            self.conn.execute(
                "CREATE TABLE bench_raw (id serial PRIMARY KEY, payload bytea)"
            )
            self.conn.execute(
                "ALTER TABLE bench_raw ALTER COLUMN payload SET STORAGE EXTERNAL"
            )

    def store(self, data: bytes, codec: str) -> int:
        packed = raw_compress(data, codec)
        hashlib.sha256(data).hexdigest()
        row = self.conn.execute(
            "INSERT INTO bench_raw (payload) VALUES (%b) RETURNING id", [packed]
        ).fetchone()
        return row[0]

    def fetch(self, pk: int, *, codec: str, chunks: bool) -> int:
        (packed,) = self.conn.execute(
            "SELECT payload FROM bench_raw WHERE id = %s", [pk], binary=True
        ).fetchone()
        data = raw_decompress(packed, codec)
        del packed
        hashlib.sha256(data).hexdigest()
        if chunks:
            view = memoryview(data)
            for start in range(0, len(view), CHUNK):
                base64.b64encode(view[start : start + CHUNK])
        return len(data)

    def delete(self, pk: int) -> None:
        self.conn.execute("DELETE FROM bench_raw WHERE id = %s", [pk])


class Ours:
    """Our code paths, called as the gateway, consumer and HTTP clients call them."""

    def __init__(self, agent: tuple[AgentToken, str] | None = None) -> None:
        from bus.apps import bus_app
        from bus.gateway.transports.websocket_ops import CHUNK_BYTES
        from bus.store.services import Producer
        from controlplane.asgi import application
        from controlplane.tokens import agent_token_create

        assert CHUNK_BYTES == CHUNK, "the raw baseline must frame like the consumer"
        self.agent, self.token = agent or agent_token_create(
            name=f"bench-{time.time_ns()}"
        )
        self.claims = bus_app().claims
        self.producer = Producer(
            agent_id=self.agent.pk,
            agent_name=self.agent.name,
            session_id="bench",
            request_id="bench",
            tool_name="generate",
            provider_name="builtin",
        )
        self.consumer = counting_consumer(bus_app().gateway, self.agent)
        self.application = application
        # One long-lived loop, as in the server: its worker threads and their
        # database connections live on between operations.
        self.loop = asyncio.new_event_loop()

    def store(self, data: bytes) -> str:
        from controlplane.config import aget_config

        async def store() -> str:
            stored = await self.claims.store(
                payload=data, producer=self.producer, config=await aget_config()
            )
            return stored.transaction_id

        return self.loop.run_until_complete(store())

    def fetch_socket(self, txn: str) -> int:
        from bus.protocol import Op

        self.consumer.counted = 0
        frame = {"op": Op.BUS_FETCH, "transaction_id": txn}
        self.loop.run_until_complete(
            self.consumer.op_bus_fetch(frame, time.perf_counter())
        )
        return self.consumer.counted

    def fetch_http(self, txn: str) -> int:
        path = f"/bus/{txn}/"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", f"Bearer {self.token}".encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
        }
        counted = {"status": 0, "bytes": 0}
        requested = asyncio.Event()

        async def receive() -> dict:
            if not requested.is_set():
                requested.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects first
            raise AssertionError("unreachable")

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                counted["status"] = message["status"]
            elif message["type"] == "http.response.body":
                counted["bytes"] += len(message.get("body", b""))

        self.loop.run_until_complete(self.application(scope, receive, send))
        assert counted["status"] == 200, counted["status"]
        return counted["bytes"]

    def delete(self, txn: str) -> None:
        from controlplane.config import aget_config

        async def release() -> None:
            await self.claims.release(
                agent_id=self.agent.pk, transaction_id=txn, config=await aget_config()
            )

        self.loop.run_until_complete(release())


def counting_consumer(gateway: Gateway, agent: AgentToken) -> AgentConsumer:
    """Return the agent consumer on an open session, counting frames, not sending.

    Its bus_fetch handler runs unchanged; only send_frame, the socket write and
    its JSON encoding, is replaced by counting the base64 data of bus_chunk.
    """
    from bus.gateway.sessions import Agent, Session
    from bus.gateway.token_checks import TokenChecks
    from bus.gateway.transports.websocket import AgentConsumer
    from bus.protocol import Op

    class CountingConsumer(AgentConsumer):
        counted = 0

        async def send_frame(self, frame: dict[str, Any]) -> int:
            if frame["op"] == Op.BUS_CHUNK:
                self.counted += len(frame["data"])
            elif "error" in frame:
                raise RuntimeError(frame["error"])
            return 0

    consumer = CountingConsumer(gateway=gateway, token_checks=TokenChecks())
    consumer.session = Session(
        agent=Agent(key=f"a{agent.pk}", id=agent.pk, name=agent.name),
        transport=consumer,
    )
    return consumer


def set_codec(codec: str) -> None:
    from controlplane import config
    from controlplane.services import config_override_set

    for key, value in (
        ("MESSAGE_BUS_COMPRESSION", codec),
        ("MESSAGE_BUS_THRESHOLD_BYTES", "1024"),
    ):
        config_override_set(key=key, raw_value=value, reason="benchmark", user=None)
    config.invalidate()


def run_case(data: bytes, codec: str, repeat: int, ours: Ours, raw: Raw) -> dict:
    """Return the median wall and CPU seconds of each operation, ours and raw.

    CPU is this process's (all its threads: the bus's worker threads count);
    the database server's is not, on either side.
    """
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    def run(name: str, fn: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.setdefault(name, []).append(time.perf_counter() - wall)
        cpus.setdefault(name, []).append(time.process_time() - cpu)
        return result

    def run_ours() -> None:
        txn = run("ours store", partial(ours.store, data))
        run("ours fetch ws", partial(ours.fetch_socket, txn))
        run("ours fetch http", partial(ours.fetch_http, txn))
        ours.delete(txn)

    def run_raw() -> None:
        pk = run("raw store", partial(raw.store, data, codec))
        run("raw fetch ws", partial(raw.fetch, pk, codec=codec, chunks=True))
        run("raw fetch http", partial(raw.fetch, pk, codec=codec, chunks=False))
        raw.delete(pk)

    for rep in range(repeat):
        # Start each round from a clean checkpoint and alternate who goes first,
        # so WAL flushes and checkpoints hit both alike.
        raw.conn.execute("CHECKPOINT")
        first, second = (run_ours, run_raw) if rep % 2 == 0 else (run_raw, run_ours)
        first()
        second()
    return {
        "ratio": len(raw_compress(data, codec)) / len(data),
        **{name: statistics.median(times) for name, times in walls.items()},
        **{f"{name} cpu": statistics.median(times) for name, times in cpus.items()},
    }


GENERATORS = {"words": words_json, "mixed": mixed_json}
OPS = ("store", "fetch ws", "fetch http")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--sizes", default="1,10,100", help="MiB, comma-separated")
    parser.add_argument("--codecs", default="zstd,gzip,none")
    parser.add_argument("--kinds", default="words,mixed")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rss", choices=("yes", "no"), default="yes", help="also the peak RSS table"
    )
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "OP", "CODEC", "MIB"))
    parser.add_argument("--stored", nargs=3, metavar=("KEY", "AGENT_ID", "TOKEN"))
    args = parser.parse_args()
    if args.child:
        setup_django(args.database_url, migrate=False)
        child(args)
        return

    create_database(args.database_url)
    try:
        setup_django(args.database_url)
        report(args)
        if args.rss == "yes":
            report_rss(args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)


def report(args: argparse.Namespace) -> None:
    rng = random.Random(42)
    ours, raw = Ours(), Raw(args.database_url)
    print(f"interpreter + Django RSS before payloads: {rss_bytes() / MIB:.0f} MiB")
    print(
        "| data | MiB | codec | ratio | op | ours MB/s | raw MB/s | ours/raw "
        "| ours CPU ms | raw CPU ms |"
    )
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|")
    for kind in args.kinds.split(","):
        for size in [int(s) for s in args.sizes.split(",")]:
            data = GENERATORS[kind](size * MIB, rng)
            for codec in args.codecs.split(","):
                set_codec(codec)
                case = run_case(data, codec, args.repeat, ours, raw)
                for op in OPS:
                    mine = size / case[f"ours {op}"]
                    base = size / case[f"raw {op}"]
                    print(
                        f"| {kind} | {size} | {codec} | {case['ratio']:.2f} | {op} "
                        f"| {mine:.0f} | {base:.0f} | {mine / base:.2f} "
                        f"| {case[f'ours {op} cpu'] * 1000:.2f} "
                        f"| {case[f'raw {op} cpu'] * 1000:.2f} |",
                        flush=True,
                    )
            del data


def report_rss(args: argparse.Namespace) -> None:
    size = max(int(s) for s in args.sizes.split(","))
    print()
    print(f"Peak RSS, {size} MiB words, one fresh process per operation:")
    print("| codec | op | ours peak | raw peak | ours x payload | ours - before |")
    print("|---|---|---:|---:|---:|---:|")
    for codec in args.codecs.split(","):
        set_codec(codec)
        for op in OPS:
            mine = run_child(args.database_url, "ours", op, codec, size)
            base = run_child(args.database_url, "raw", op, codec, size)
            print(
                f"| {codec} | {op} | {mine['peak'] / MIB:.0f} MiB "
                f"| {base['peak'] / MIB:.0f} MiB "
                f"| {mine['peak'] / (size * MIB):.1f} "
                f"| {(mine['peak'] - mine['before']) / MIB:.0f} MiB |",
                flush=True,
            )


def run_child(url: str, side: str, op: str, codec: str, size: int) -> dict:
    """Measure op in a fresh process; a fetch's payload is stored by another one."""
    command = [sys.executable, __file__, "--database-url", url]
    command += ["--child", side, "store", codec, str(size)]
    if op == "store":
        return _child_result(command)
    stored = _child_result(command + ["--stored", "keep", "0", "-"])
    command[-3] = op
    return _child_result(
        command
        + ["--stored", str(stored["key"]), str(stored["agent"]), stored["token"]]
    )


def _child_result(command: list[str]) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> None:
    """Run one operation in this fresh process and print its RSS high-water mark.

    A fetch (--stored KEY AGENT_ID TOKEN) reads what another process stored,
    so that this one never held the payload: its baseline is the interpreter
    and Django, as in a server that serves a result another worker stored.
    `--stored keep 0 -` stores, keeps the message and prints its key instead.
    """
    side, op, codec, size = args.child
    key, agent_id, token = args.stored or (None, None, None)
    if side == "ours":
        from controlplane.models import AgentToken

        ours = Ours(
            (AgentToken.objects.get(pk=int(agent_id)), token)
            if key not in (None, "keep")
            else None
        )
        fetches = {"fetch ws": ours.fetch_socket, "fetch http": ours.fetch_http}
        delete, agent = ours.delete, (ours.agent.pk, ours.token)
    else:
        raw = Raw(args.database_url, create=False)
        fetches = {
            "fetch ws": partial(raw.fetch, codec=codec, chunks=True),
            "fetch http": partial(raw.fetch, codec=codec, chunks=False),
        }
        delete, agent = raw.delete, (0, "-")
    if op == "store":
        data = words_json(int(size) * MIB, random.Random(42))
        store = ours.store if side == "ours" else partial(raw.store, codec=codec)
        call = partial(store, data)
        del data
    else:
        call = partial(fetches[op], key if side == "ours" else int(key))
    gc.collect()
    before = rss_bytes()
    reset_peak_rss()
    result = call()
    peak = peak_rss_bytes()
    if key == "keep":
        print(json.dumps({"key": result, "agent": agent[0], "token": agent[1]}))
        return
    delete(result if op == "store" else (key if side == "ours" else int(key)))
    print(json.dumps({"before": before, "peak": peak}))


if __name__ == "__main__":
    main()
