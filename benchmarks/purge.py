"""purge_bus on 1,000,000 rows, half expired, while another connection inserts.

For each variant the table is loaded afresh, vacuumed and analyzed, in one of
two layouts: ``insertion`` (what the bus produces: expires_at = created_at +
TTL, so expiry order follows insertion order, with a minute of jitter; the
older half is expired) and ``random`` (worst case: expired and live rows
interleaved at random, as if the TTL had been changed back and forth).
An inserter thread on its own connection makes single-row autocommit inserts
at --insert-rate per second the whole time; its latencies are reported for a
quiet baseline and while the purge runs. Variants:

* ``purge_bus --batch-size N`` (the real command, in a subprocess; rows/s from
  its own reported duration);
* for reference, plain SQL: one ``DELETE ... WHERE expires_at < now()``, and
  batches of ``DELETE ... WHERE id IN (SELECT id ... LIMIT n)`` without ORDER BY.

    .venv/bin/python benchmarks/purge.py [--rows 1000000] [--batch-sizes 5000,10000]

It creates its own database (cp_bench_purge by default) and drops it at the end.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psycopg
from _common import ROOT, create_database, drop_database, libpq_url, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cp_bench_purge"

LOAD_SQL = """
INSERT INTO message_bus (
    transaction_id, session_id, tool_name, provider_name, payload,
    payload_size_bytes, compression_type, compressed_size_bytes, checksum,
    status, error_message, created_at, expires_at, metadata
)
SELECT 'txn_' || md5(g::text), 'bench', 'generate', 'builtin',
       decode(md5(g::text) || md5((g + 1)::text), 'hex'),
       400, 'zstd', 32, md5(g::text) || md5((g + 2)::text),
       'complete', '', now() - interval '1 day', {expires_at}, '{{}}'
FROM generate_series(1, %(rows)s) AS g
"""
EXPIRES_AT = {
    "insertion": "now() + (g::float8 / %(rows)s - 0.5) * interval '48 hours'"
    " + random() * interval '1 minute'",
    "random": "CASE WHEN random() < 0.5"
    " THEN now() - random() * interval '48 hours' - interval '1 minute'"
    " ELSE now() + random() * interval '48 hours' + interval '1 hour' END",
}

INSERT_SQL = """
INSERT INTO message_bus (
    transaction_id, session_id, tool_name, provider_name, payload,
    payload_size_bytes, compression_type, compressed_size_bytes, checksum,
    status, error_message, created_at, expires_at, metadata
) VALUES (%s, 'bench', 'generate', 'builtin', %b, 400, 'zstd', 32, %s,
          'complete', '', now(), now() + interval '48 hours', '{}')
"""


class Inserter:
    """Insert single rows at a steady rate from another connection; time each."""

    def __init__(self, url: str, rate: float) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._interval = 1 / rate
        self._latencies: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._count = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            self._count += 1
            started = time.perf_counter()
            self._conn.execute(
                INSERT_SQL,
                [
                    f"txn_ins{self._count:028d}{time.time_ns() % 1000:03d}",
                    b"x" * 32,
                    "0" * 64,
                ],
            )
            elapsed = time.perf_counter() - started
            with self._lock:
                self._latencies.append(elapsed)
            next_at += self._interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def take(self) -> list[float]:
        """Return and forget the latencies recorded so far."""
        with self._lock:
            taken, self._latencies = self._latencies, []
        return taken

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(latencies: list[float]) -> str:
    ms = [value * 1000 for value in latencies]
    return (
        f"n={len(ms)} p50={statistics.median(ms):.1f} ms "
        f"p99={percentile(ms, 0.99):.1f} ms max={max(ms):.1f} ms"
    )


def load(conn: psycopg.Connection, rows: int, layout: str) -> int:
    conn.execute("TRUNCATE message_bus")
    conn.execute(LOAD_SQL.format(expires_at=EXPIRES_AT[layout]), {"rows": rows})
    conn.execute("VACUUM ANALYZE message_bus")
    (expired,) = conn.execute(
        "SELECT count(*) FROM message_bus WHERE expires_at < now()"
    ).fetchone()
    return expired


def run_command(url: str, batch_size: int) -> tuple[int, float]:
    result = subprocess.run(
        [sys.executable, "manage.py", "purge_bus", "--batch-size", str(batch_size)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"deleted (\d+) expired rows.* ([\d.]+) s", result.stdout)
    assert match, result.stdout
    return int(match.group(1)), float(match.group(2))


def run_sql(conn: psycopg.Connection, statement: str, params: list) -> Callable:
    def purge() -> tuple[int, float]:
        started = time.perf_counter()
        total = 0
        while True:
            deleted = conn.execute(statement, params).rowcount
            total += deleted
            if "LIMIT" not in statement or deleted == 0:
                break
        return total, time.perf_counter() - started

    return purge


def measure(
    name: str,
    purge: Callable[[], tuple[int, float]],
    inserter: Inserter,
    conn: psycopg.Connection,
    expired: int,
) -> None:
    inserter.take()
    started = time.perf_counter()
    rows, seconds = purge()
    wall = time.perf_counter() - started
    during = inserter.take()
    (left,) = conn.execute(
        "SELECT count(*) FROM message_bus WHERE expires_at < now() - interval '1 s'"
    ).fetchone()
    print(
        f"| {name} | {rows} | {seconds:.2f} s | {rows / seconds / 1000:.0f} k "
        f"| {summary(during)} | {expired} were expired; wall {wall:.1f} s; "
        f"{left} expired left |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-sizes", default="5000,10000")
    parser.add_argument("--insert-rate", type=float, default=200)
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--layouts", default="insertion,random")
    parser.add_argument("--reference", action="store_true", help="add plain SQL rows")
    args = parser.parse_args()

    create_database(args.database_url)
    try:
        setup_django(args.database_url)
        url = libpq_url(args.database_url)
        with psycopg.connect(url, autocommit=True) as conn:
            inserter = Inserter(url, args.insert_rate)
            try:
                run_all(args, conn, inserter)
            finally:
                inserter.close()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)


def run_all(args: argparse.Namespace, conn, inserter: Inserter) -> None:
    load(conn, args.rows, "insertion")
    inserter.take()
    time.sleep(args.baseline_seconds)
    print(f"baseline inserts without purge: {summary(inserter.take())}")
    print(
        "| layout | variant | rows deleted | time | rows/s | concurrent inserts "
        "| notes |"
    )
    print("|---|---|---:|---:|---:|---|---|")
    for layout in args.layouts.split(","):
        variants = [
            (
                f"purge_bus --batch-size {size}",
                lambda size=size: run_command(args.database_url, size),
            )
            for size in [int(b) for b in args.batch_sizes.split(",")]
        ]
        if args.reference:
            variants += [
                (
                    "plain SQL: one DELETE",
                    run_sql(
                        conn, "DELETE FROM message_bus WHERE expires_at < now()", []
                    ),
                ),
                (
                    "plain SQL: DELETE ... IN (SELECT ... LIMIT 5000), no ORDER BY",
                    run_sql(
                        conn,
                        "DELETE FROM message_bus WHERE id IN (SELECT id FROM "
                        "message_bus WHERE expires_at < now() LIMIT %s)",
                        [5000],
                    ),
                ),
            ]
        for name, purge in variants:
            expired = load(conn, args.rows, layout)
            measure(f"{layout} | {name}", purge, inserter, conn, expired)


if __name__ == "__main__":
    main()
