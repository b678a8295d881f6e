"""Payload bytes in and out of message_bus without the ORM's slow path.

Django's psycopg binds parameters client-side, which turns a bytea into hex
inside the SQL text (measured ~19 MB/s and ~9x the payload in memory for
100 MB). Payloads travel through a plain psycopg cursor on Django's own
connection (so the same transaction) with binary parameters and results.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection, transaction
from psycopg.types.json import Jsonb

from bus.models import Message
from bus.store import codec
from controlplane.config import MIB

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


def insert_row(fields: dict, payload: bytes) -> None:
    if connection.vendor != "postgresql":
        Message.objects.create(payload=payload, **fields)
        return
    params = [fields[column] for column in METADATA_COLUMNS]
    params[METADATA_COLUMNS.index("metadata")] = Jsonb(fields["metadata"])
    with _binary_cursor() as cursor:
        cursor.execute(_INSERT_SQL, [*params, payload])


def read_payload(row: Message) -> bytes | bytearray | None:
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
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            yield cursor
