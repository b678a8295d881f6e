"""Payload bytes in and out of message_bus without the ORM's slow path.

Django's psycopg binds parameters client-side, which turns a bytea into hex
inside the SQL text (measured ~19 MB/s and ~9x the payload in memory for
100 MB). Payloads travel through a plain psycopg cursor on Django's own
connection (so the same transaction) with binary parameters and results.
"""

import functools
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import QuerySet
from psycopg.types.json import Jsonb

from bus.models import BusEvent, Message
from bus.store import codec
from controlplane.config import MIB
from controlplane.models import AgentToken
from controlplane.tokens import active_token_sql

logger = logging.getLogger(__name__)

TRANSACTION_PREFIX = "txn_"
# Every transaction id message_store makes: the prefix and a uuid4 as 32
# lowercase hex digits. Nothing else is ever looked up.
TRANSACTION_ID = re.compile(rf"{TRANSACTION_PREFIX}[0-9a-f]{{32}}")
# Stored payloads up to SINGLE_READ_MAX_BYTES are read in one SELECT, larger
# ones in slices of READ_SLICE_BYTES (see _read_payload for the measurements).
SINGLE_READ_MAX_BYTES = 16 * MIB
READ_SLICE_BYTES = 8 * MIB

METADATA_COLUMNS = (
    "transaction_id",
    "session_id",
    "agent_id",
    "tool_name",
    "provider_name",
    "payload_size_bytes",
    "compression_type",
    "compressed_size_bytes",
    "checksum",
    "status",
    "error_message",
    "created_at",
    "expires_at",
    "metadata",
)
_INSERT_SQL = (
    f"INSERT INTO message_bus ({', '.join(METADATA_COLUMNS)}, payload) "
    f"VALUES ({', '.join(['%s'] * len(METADATA_COLUMNS))}, %b)"
)
_READ_SQL = "SELECT payload FROM message_bus WHERE id = %s"
# substr() counts from 1; with STORAGE EXTERNAL Postgres reads only the TOAST
# chunks that cover the slice.
_SLICE_SQL = "SELECT substr(payload, %s, %s) FROM message_bus WHERE id = %s"
_LOCK_SQL = "SELECT ''::bytea FROM message_bus WHERE id = %s FOR SHARE"
_EVENT_COLUMNS = "kind, transaction_id, agent_name, detail, created_at"
# One statement stores the row and its `stored` event, one records a fetch
# (accessed_at and the `fetched` event): each is atomic on its own, so a bus
# call costs one round trip for them instead of BEGIN, two statements, COMMIT.
_STORE_SQL = (
    f"WITH stored AS ({_INSERT_SQL}) "
    f"INSERT INTO {BusEvent._meta.db_table} ({_EVENT_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s)"
)
# A fetch's record is committed asynchronously (synchronous_commit off for
# this statement's transaction only): the commit does not wait for the WAL
# flush, which was most of a small fetch's time (2-8 ms of fsync against
# 0.03 ms). Postgres still writes it within 3 x wal_writer_delay (600 ms by
# default); only a crash of the database server inside that window loses it,
# and never anything else (the payload, its row and the `stored` event are
# committed synchronously). A store must stay synchronous: the client is
# handed the claim as soon as it commits.
_FETCHED_SQL = (
    "WITH touched AS (UPDATE message_bus SET accessed_at = %s WHERE id = %s) "
    f"INSERT INTO {BusEvent._meta.db_table} ({_EVENT_COLUMNS}) "
    "SELECT %s, %s, %s, %s, %s "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
)
# The fetch's metadata and, when small enough for one read, its payload in the
# same query; a NULL payload column means "read it in slices" (read_payload).
_ROW_COLUMNS = (
    "m.id, m.transaction_id, m.agent_id, a.name, m.status, m.expires_at, "
    "m.payload_size_bytes, m.compression_type, m.compressed_size_bytes, "
    "m.checksum, CASE WHEN m.compressed_size_bytes <= %s THEN m.payload END"
)
_FETCH_ROW_SQL = (
    f"SELECT {_ROW_COLUMNS} FROM message_bus m "
    f"LEFT JOIN {AgentToken._meta.db_table} a "
    "ON a.id = m.agent_id WHERE m.transaction_id = %s"
)


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What a fetch needs of a message row, and its payload when read with it."""

    pk: int
    transaction_id: str
    agent_id: int | None
    agent_name: str
    status: str
    expires_at: datetime
    payload_size_bytes: int
    compression_type: str
    compressed_size_bytes: int
    checksum: str
    payload: bytes | None

    @property
    def is_expired(self) -> bool:
        """Return whether a fetch answers EXPIRED (Message.is_expired's rule)."""
        return Message(status=self.status, expires_at=self.expires_at).is_expired


def read_row(
    transaction_id: str, agent_id: int | None, *, any_owner: bool
) -> StoredRow | None:
    """Return the message row (with its payload up to SINGLE_READ_MAX_BYTES).

    None when there is no such message of this agent (of any agent when
    any_owner). One query: the fetch's metadata and payload in one round trip.
    """
    if connection.vendor != "postgresql":
        return _read_row_orm(transaction_id, agent_id, any_owner=any_owner)
    sql, params = _FETCH_ROW_SQL, [SINGLE_READ_MAX_BYTES, transaction_id]
    # Another agent's message answers exactly like one that never existed.
    if not any_owner:
        if agent_id is None:
            sql += " AND m.agent_id IS NULL"
        else:
            sql += " AND m.agent_id = %s"
            params.append(agent_id)
    found = _first_read(sql, params)
    return None if found is None else _stored_row(found)


@functools.cache
def _token_fetch_row_sql(token_sql: str) -> str:
    # The active agent of the digest (none: no row at all, whatever the
    # transaction id), and its message if it has one by that id: the token is
    # answered before anything about the message, in one round trip.
    return (
        f"WITH a (id, name, token_hash) AS ({token_sql}) "
        f"SELECT a.token_hash, {_ROW_COLUMNS} FROM a "
        "LEFT JOIN message_bus m ON m.agent_id = a.id AND m.transaction_id = %s"
    )


def read_row_for_token(
    digest: str, now: datetime, transaction_id: str
) -> tuple[str, StoredRow | None] | None:
    """Return the token_hash of the agent active at now with this token digest,
    and its message row (None when it has no such message); None when no
    active agent has the digest. One query.
    """
    if connection.vendor != "postgresql":
        agent = AgentToken.objects.active(now=now).filter(token_hash=digest).first()
        if agent is None:
            return None
        return agent.token_hash, _read_row_orm(
            transaction_id, agent.pk, any_owner=False
        )
    rule = active_token_sql()
    params = [*rule.params(digest, now), SINGLE_READ_MAX_BYTES, transaction_id]
    found = _first_read(_token_fetch_row_sql(rule.sql), params)
    if found is None:
        return None
    token_hash, row = found[0], found[1:]
    # The LEFT JOIN's row of an agent without that message is all NULL.
    return token_hash, None if row[0] is None else _stored_row(row)


def _stored_row(values: tuple) -> StoredRow:
    # _ROW_COLUMNS in order; a message of no agent (an operator's) has no name.
    pk, transaction_id, agent_id, agent_name, *rest = values
    return StoredRow(pk, transaction_id, agent_id, agent_name or "", *rest)


def _first_read(sql: str, params: list) -> tuple | None:
    """Return the first row of the read that starts a fetch, which is also the
    kept connection's health check.

    Django's check is a SELECT 1 round trip of its own before the first query
    of each call. A read changes nothing, so it can be the check itself: when
    it finds the connection cut (a restart, pg_terminate_backend), the
    connection is reopened and the read runs once more. Any other error, and
    a second failure (the database is down: the breaker counts it), is
    raised. Inside a transaction Django's own check runs, as everywhere.
    """
    kept = (
        connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    )
    if kept:
        connection.health_check_done = True
        try:
            return _fetchone(sql, params)
        except (OperationalError, InterfaceError):
            # psycopg closes a connection the server cut; one still open
            # failed for another reason (a timeout...) that a retry repeats.
            if connection.connection is not None and not connection.connection.closed:
                raise
            logger.info("Reopening a database connection the server had closed")
            connection.close()
    return _fetchone(sql, params)


def _fetchone(sql: str, params: list) -> tuple | None:
    with _binary_cursor() as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchone()


def owned_by(rows: QuerySet[Message], agent_id: int | None) -> QuerySet[Message]:
    """The rows of one owner: an agent, or (None) the operator's own messages."""
    if agent_id is not None:
        return rows.filter(agent_id=agent_id)
    return rows.filter(agent__isnull=True)


def _read_row_orm(
    transaction_id: str, agent_id: int | None, *, any_owner: bool
) -> StoredRow | None:
    """read_row on databases other than Postgres (SQLite for a first run)."""
    rows = Message.objects.filter(transaction_id=transaction_id).select_related("agent")
    if not any_owner:
        rows = owned_by(rows, agent_id)
    row = rows.first()
    if row is None:
        return None
    small = row.compressed_size_bytes <= SINGLE_READ_MAX_BYTES
    return StoredRow(
        pk=row.pk,
        transaction_id=row.transaction_id,
        agent_id=row.agent_id,
        agent_name=row.agent.name if row.agent_id else "",
        status=row.status,
        expires_at=row.expires_at,
        payload_size_bytes=row.payload_size_bytes,
        compression_type=row.compression_type,
        compressed_size_bytes=row.compressed_size_bytes,
        checksum=row.checksum,
        payload=bytes(row.payload) if small else None,
    )


def insert_row_with_event(fields: dict, payload: bytes, event: BusEvent) -> None:
    """Insert a message row and its event, atomically."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            Message.objects.create(payload=payload, **fields)
            event.save()
        return
    params = [fields[column] for column in METADATA_COLUMNS]
    params[METADATA_COLUMNS.index("metadata")] = Jsonb(fields["metadata"])
    with _binary_cursor() as cursor:
        cursor.execute(_STORE_SQL, [*params, payload, *_event_params(event)])


def record_fetch(pk: int, accessed_at: datetime, event: BusEvent) -> None:
    """Set the row's accessed_at and write its `fetched` event, atomically."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            Message.objects.filter(pk=pk).update(accessed_at=accessed_at)
            event.save()
        return
    with _binary_cursor() as cursor:
        cursor.execute(_FETCHED_SQL, [accessed_at, pk, *_event_params(event)])


def _event_params(event: BusEvent) -> list:
    return [
        event.kind,
        event.transaction_id,
        event.agent_name,
        Jsonb(event.detail),
        event.created_at,
    ]


def read_payload(row: Message | StoredRow) -> bytes | bytearray | None:
    """Return the stored bytes, or None when the row is gone.

    One binary SELECT makes libpq and psycopg hold about three transient
    copies and, past ~20 MB, gets slower than slices (page faults of the
    growing buffers): measured 27 vs 43 ms at 10 MiB, 220 vs 139 ms at 60 MiB.
    Larger payloads are therefore read in substr() slices into one buffer,
    under a FOR SHARE row lock so that no ack or purge can change the row
    between slices: memory stays at one copy plus three slices (a single
    SELECT measured 4.9x the payload's size in peak RSS for 100 MB).
    """
    size = row.compressed_size_bytes
    if size <= SINGLE_READ_MAX_BYTES or connection.vendor != "postgresql":
        return _select(_READ_SQL, [row.pk])
    buffer = bytearray(size)
    with transaction.atomic():
        if _select(_LOCK_SQL, [row.pk]) is None:
            return None
        for start in range(0, size, READ_SLICE_BYTES):
            length = min(READ_SLICE_BYTES, size - start)
            piece = _select(_SLICE_SQL, [start + 1, length, row.pk])
            if piece is None or len(piece) != length:
                raise codec.CodecError("stored payload is shorter than recorded")
            buffer[start : start + length] = piece
    return buffer


def read_payload_head(row: Message, length: int) -> bytes | None:
    """Return the first length stored bytes, or None when the row is gone.

    One substr() slice: with STORAGE EXTERNAL only the TOAST chunks it covers
    are read, whatever the payload's size.
    """
    return _select(_SLICE_SQL, [1, length, row.pk])


def _select(sql: str, params: list) -> bytes | None:
    """Return the first column of the first row as bytes (binary on Postgres)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchone()
        return None if found is None else bytes(found[0])
    with _binary_cursor() as cursor:
        cursor.execute(sql, params, binary=True)
        found = cursor.fetchone()
    return None if found is None else found[0]


@contextmanager
def _binary_cursor() -> Iterator[psycopg.Cursor]:
    """Yield a server-side-binding psycopg cursor on Django's connection."""
    with connection.wrap_database_errors:
        # What Django's own cursor() does first: a kept connection that the
        # server has cut (restart, pg_terminate_backend) is replaced here,
        # once per call (close_old_connections re-arms it), instead of failing
        # the call as an outage.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            yield cursor
