"""The call history: every answered call becomes a call record, written in batches.

A call never waits for its record. ``CallHistory.add`` appends the record to a
bounded queue in memory and returns; one writer task per process, started by
the first record and ended when the queue is empty, writes the queue:

1. wait CALL_HISTORY_FLUSH_SECS, so that records of many calls share an insert;
2. take up to CALL_HISTORY_BATCH of the records that waited, oldest first;
3. insert them with one binary COPY over an async psycopg connection on the
   event loop, opened for the interval (on SQLite: ``bulk_create`` in a
   worker thread, never the one thread that runs the process's other sync
   work);
4. when the database cannot be reached, put them back at the head of the queue
   and try again after the interval: an outage only makes the queue longer;
5. once those are written, wait again (records that came meanwhile are the
   next interval's), and end when the queue is empty.

The queue holds at most CALL_HISTORY_BUFFER records. A record that finds it
full (the database is down or slower than the calls) is dropped and counted
(``controlplane_call_records_dropped_total``), and the first drop of each
outage is logged: the call itself has been answered by then.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
from django.db import connection
from prometheus_client import Counter, Gauge

from bus.gateway.worker import worker_id
from bus.models import CallRecord as CallRow
from bus.store.breaker import OUTAGE_ERRORS
from bus.store.claims import run_in_db_thread
from controlplane.config import Config, aget_config
from controlplane.models import AgentToken

if TYPE_CHECKING:
    from bus.gateway.metrics import CallRecord

logger = logging.getLogger(__name__)

WORKER = "worker"
# Why a record was not written: the queue was full (the database was down or
# slower than the calls), the database refused the batch, or the process
# stopped while the database could not take what was left.
BUFFER_FULL = "buffer_full"
REJECTED = "rejected"
SHUTDOWN = "shutdown"

WRITTEN = Counter(
    "controlplane_call_records_written",
    "Call records written to the call history (admin: Call records).",
    [WORKER],
)
DROPPED = Counter(
    "controlplane_call_records_dropped",
    "Call records never written, by reason: buffer_full (CALL_HISTORY_BUFFER "
    "reached, e.g. while the database is down), rejected (the database refused "
    "them), shutdown (left when the process stopped).",
    ["reason", WORKER],
)
WAITING = Gauge(
    "controlplane_call_records_waiting",
    "Call records queued in this process, not yet written.",
    [WORKER],
)

# (record, latency in seconds, Unix time of the answer)
Entry = tuple["CallRecord", float, float]


class CallHistory:
    """The call records of one process on their way to the database."""

    def __init__(self) -> None:
        self.waiting: deque[Entry] = deque()
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        self._outage = False
        self._full = False

    def add(self, record: CallRecord, latency: float, config: Config) -> None:
        """Queue one answered call's record; never waits, never raises."""
        if not config.CALL_HISTORY_ENABLED:
            return
        if len(self.waiting) >= config.CALL_HISTORY_BUFFER:
            self._drop_full(config)
            return
        self.waiting.append((record, latency, time.time()))
        self._start()

    async def flush(self) -> int:
        """Write every queued record now; return how many are left unwritten.

        Used at shutdown and by tests; records stay queued while the database
        cannot be reached.
        """
        config = await aget_config()
        link = _Link()
        try:
            while self.waiting:
                if not await self._write_batch(config, len(self.waiting), link):
                    break
        finally:
            await link.close()
        WAITING.labels(worker_id()).set(len(self.waiting))
        return len(self.waiting)

    def abandon(self) -> int:
        """Count what is still queued as dropped (the process stops); return it."""
        left = len(self.waiting)
        if left:
            logger.warning(
                "%d call record(s) not written at shutdown: database unavailable", left
            )
            DROPPED.labels(SHUTDOWN, worker_id()).inc(left)
            self.waiting.clear()
        return left

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._task
        # A task of a loop that has ended (a test's) never runs again.
        if task is None or task.done() or task.get_loop() is not loop:
            self._writing = asyncio.Lock()
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        """Write the queue until it is empty, then end (add starts it again)."""
        while self.waiting:
            config = await aget_config()
            await asyncio.sleep(config.CALL_HISTORY_FLUSH_SECS)
            # Only what waited for the interval: records that arrive while it
            # is written wait for the next one, so batches stay full and the
            # writer's thread does not take the GIL from the calls non-stop.
            due = len(self.waiting)
            link = _Link()
            try:
                while due > 0 and await self._write_batch(config, due, link):
                    due -= config.CALL_HISTORY_BATCH
            finally:
                await link.close()
            WAITING.labels(worker_id()).set(len(self.waiting))

    async def _write_batch(self, config: Config, most: int, link: _Link) -> bool:
        """Write the oldest batch (at most `most` records); False on an outage."""
        async with self._writing:
            size = min(len(self.waiting), config.CALL_HISTORY_BATCH, most)
            batch = [self.waiting.popleft() for _ in range(size)]
            if not batch:
                return True
            try:
                await link.insert(batch)
            except OUTAGE_ERRORS + ASYNC_OUTAGE_ERRORS:
                await link.close()
                self.waiting.extendleft(reversed(batch))
                if not self._outage:
                    self._outage = True
                    logger.warning(
                        "Cannot write %d call record(s): database unavailable; "
                        "keeping up to %d and retrying every %g s",
                        len(self.waiting),
                        config.CALL_HISTORY_BUFFER,
                        config.CALL_HISTORY_FLUSH_SECS,
                        exc_info=True,
                    )
                return False
            except Exception:
                # The writer's boundary. Not an outage: these rows themselves
                # were refused (or could not be built); retrying them would
                # block every record behind them, so they are counted instead.
                logger.exception("Dropped %d call record(s) the database refused", size)
                DROPPED.labels(REJECTED, worker_id()).inc(size)
                return True
            if self._outage:
                logger.info("Call records are written again")
            self._outage = self._full = False
            WRITTEN.labels(worker_id()).inc(size)
            return True

    def _drop_full(self, config: Config) -> None:
        DROPPED.labels(BUFFER_FULL, worker_id()).inc()
        if not self._full:
            # Logged once until the next successful write: once per outage, or
            # per burst that the database cannot keep up with.
            self._full = True
            logger.warning(
                "Call history queue full (%d records): dropping new records, "
                "counted in controlplane_call_records_dropped_total",
                config.CALL_HISTORY_BUFFER,
            )


class _Link:
    """The writer's way to the database for one interval, opened on first use.

    On Postgres, an async psycopg connection on the event loop: COPY from a
    worker thread took the GIL from the calls at every batch, which cost more
    than the few microseconds per row the loop spends here (benchmarks/README.md,
    call records). It is closed after each interval, so an outage is seen at
    the next connect as it is by every other connection of the process.
    Elsewhere (SQLite), the ORM in a worker thread.
    """

    def __init__(self) -> None:
        self.conn: psycopg.AsyncConnection | None = None

    async def insert(self, batch: list[Entry]) -> None:
        """Insert one batch; raise the database's errors."""
        if connection.vendor != "postgresql":
            await run_in_db_thread(_insert, batch)
            return
        if self.conn is None:
            params = connection.get_connection_params()
            # Django's cursor class is a sync one; the adapters it sets stay.
            params.pop("cursor_factory", None)
            self.conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        worker = worker_id()
        rows = [_values(*entry, worker=worker) for entry in batch]
        agent_ids = sorted({row[AGENT] for row in rows if row[AGENT] is not None})
        known: set[object] = set()
        if agent_ids:
            found = await self.conn.execute(KNOWN_AGENTS_SQL, [agent_ids])
            known = {agent_id for (agent_id,) in await found.fetchall()}
        async with self.conn.cursor() as cursor:
            async with cursor.copy(_copy_sql()) as copy:
                copy.set_types(_copy_types())
                for row in rows:
                    await copy.write_row(row if row[AGENT] in known else _unlinked(row))

    async def close(self) -> None:
        """Close the connection if one was opened; a broken one is just dropped."""
        conn, self.conn = self.conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except ASYNC_OUTAGE_ERRORS:
                # Closing a connection the outage already broke: nothing to do.
                logger.debug("Call history connection was already broken")


# The columns _insert fills, in the order of the values _values returns.
COLUMNS = (
    "created_at",
    "agent_id",
    "agent_name",
    "session_id",
    "worker",
    "transport",
    "tool_name",
    "provider_name",
    "request_id",
    "outcome",
    "error_message",
    "latency_ms",
    "result_bytes",
    "transaction_id",
    "replay",
    "cached",
)
AGENT = COLUMNS.index("agent_id")
KNOWN_AGENTS_SQL = f"SELECT id FROM {AgentToken._meta.db_table} WHERE id = ANY(%s)"  # noqa: S608
# What psycopg raises when it cannot reach or use the database (the Django
# wrappers of the same errors are OUTAGE_ERRORS).
ASYNC_OUTAGE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
Row = tuple[object, ...]


def _insert(batch: list[Entry]) -> None:
    """Insert one batch of records with the ORM (in a worker thread; SQLite)."""
    worker = worker_id()
    rows = [_values(*entry, worker=worker) for entry in batch]
    # A token deleted after its call: the record stays, without the link, as
    # SET_NULL leaves the rows already written (the column has no constraint).
    agent_ids = {row[AGENT] for row in rows if row[AGENT] is not None}
    known = set(
        AgentToken.objects.filter(pk__in=agent_ids).values_list("pk", flat=True)
    )
    _write([row if row[AGENT] in known else _unlinked(row) for row in rows])


def _write(rows: list[Row]) -> None:
    CallRow.objects.bulk_create(
        [CallRow(**dict(zip(COLUMNS, row, strict=True))) for row in rows]
    )


def _copy_sql() -> str:
    # Binary COPY, not the ORM's INSERT: building and compiling model
    # instances cost about 300 us per row under load, a third of a core at
    # 1000 calls/s, on the cores the calls need; text COPY 2 us, binary 0.6 us
    # (benchmarks/README.md, call records).
    return (
        f"COPY {CallRow._meta.db_table} ({', '.join(COLUMNS)}) "
        "FROM STDIN (FORMAT BINARY)"
    )


# Postgres types of the columns by Django field type, for binary COPY.
COPY_TYPES = {
    "DateTimeField": "timestamptz",
    "BigAutoField": "int8",
    "AutoField": "int4",
    "CharField": "text",
    "TextField": "text",
    "FloatField": "float8",
    "BigIntegerField": "int8",
    "BooleanField": "bool",
}


@functools.cache
def _copy_types() -> list[str]:
    fields = {field.attname: field for field in CallRow._meta.concrete_fields}
    types = []
    for name in COLUMNS:
        field = fields[name]
        if field.is_relation:
            field = field.target_field
        types.append(COPY_TYPES[field.get_internal_type()])
    return types


def _unlinked(row: Row) -> Row:
    return row[:AGENT] + (None,) + row[AGENT + 1 :]


def _values(
    record: CallRecord, latency: float, answered_at: float, *, worker: str
) -> Row:
    limits = _limits()
    return (
        datetime.fromtimestamp(answered_at, tz=UTC),
        record.agent_id,
        _text(record.agent_name, limits["agent_name"]),
        _text(record.session_id, limits["session_id"]),
        _text(worker, limits["worker"]),
        _text(record.transport, limits["transport"]),
        _text(record.name, limits["tool_name"]),
        _text(record.provider, limits["provider_name"]),
        _text(record.request_id, limits["request_id"]),
        _text(record.outcome, limits["outcome"]),
        _text(record.error, None),
        latency * 1000,
        record.size,
        _text(record.transaction_id, limits["transaction_id"]),
        record.replay,
        record.cached,
    )


@functools.cache
def _limits() -> dict[str, int | None]:
    return {
        field.name: getattr(field, "max_length", None)
        for field in CallRow._meta.get_fields()
    }


def _text(value: str, limit: int | None) -> str:
    """Fit a client's text to its column: Postgres refuses NUL, and lengths are set.

    Request ids and asked tool names are the client's text; a longer one is
    kept cut to the column (searching for it finds its start).
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value if limit is None else value[:limit]
