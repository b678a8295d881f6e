"""Delete expired messages in batches (purge_bus)."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from bus.exceptions import PurgeLockedError
from bus.models import BusEvent, Message
from bus.store import metrics as bus_metrics

logger = logging.getLogger(__name__)

# Key of the session advisory lock that keeps two purge_bus runs apart
# ("purge_bu" in ASCII, so it is recognisable in pg_locks).
PURGE_LOCK_KEY = 0x70757267655F6275
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

# Each batch is an index range scan on message_bus_expires_at_idx that stops
# after LIMIT rows: ORDER BY expires_at makes Postgres walk the index (without
# it, it plans a sequential scan per batch once many rows are expired), and
# the lower bound starts each batch where the previous one ended, so it does
# not wade through the index entries of rows already deleted (measured: every
# batch got slower without it). SKIP LOCKED leaves rows another transaction
# holds (a sliced fetch, an ack, an expiry) to the next run.
_PURGE_BATCH_SQL = """
WITH doomed AS (
    SELECT id FROM message_bus
    WHERE expires_at >= %s AND expires_at < %s
    ORDER BY expires_at
    LIMIT %s
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM message_bus AS m USING doomed
    WHERE m.id = doomed.id
    RETURNING m.compressed_size_bytes, m.payload_size_bytes, m.expires_at
)
SELECT count(*), coalesce(sum(compressed_size_bytes), 0),
       coalesce(sum(payload_size_bytes), 0), max(expires_at)
FROM gone
"""


@dataclass(frozen=True)
class PurgeReport:
    """Outcome of one purge run."""

    rows: int
    # Compressed, as stored (what the table frees), and the results' own size.
    bytes: int
    payload_bytes: int
    batches: int
    seconds: float
    dry_run: bool
    complete: bool


def messages_purge_expired(
    *,
    batch_size: int,
    max_seconds: float | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int, int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PurgeReport:
    """Delete expired messages in batches and return the counts; raise PurgeLockedError.

    Rows are expired when expires_at is before the moment the run started;
    nothing newer is ever touched. on_batch(number, rows, bytes) reports progress.
    """
    started = clock()
    cutoff = timezone.now()
    if dry_run:
        totals = Message.objects.filter(expires_at__lt=cutoff).aggregate(
            rows=Count("id"),
            bytes=Sum("compressed_size_bytes"),
            payload_bytes=Sum("payload_size_bytes"),
        )
        return PurgeReport(
            rows=totals["rows"],
            bytes=totals["bytes"] or 0,
            payload_bytes=totals["payload_bytes"] or 0,
            batches=0,
            seconds=clock() - started,
            dry_run=True,
            complete=True,
        )
    rows = freed = freed_payload = batches = 0
    complete = False
    after = EARLIEST
    with _purge_lock():
        while True:
            if max_seconds is not None and clock() - started >= max_seconds:
                break
            deleted, deleted_bytes, payload_bytes, last = _purge_batch(
                cutoff, after, batch_size
            )
            if deleted == 0:
                complete = True
                break
            after = last
            batches += 1
            rows += deleted
            freed += deleted_bytes
            freed_payload += payload_bytes
            bus_metrics.purged_rows_total.inc(deleted)
            if on_batch is not None:
                on_batch(batches, deleted, deleted_bytes)
    report = PurgeReport(
        rows=rows,
        bytes=freed,
        payload_bytes=freed_payload,
        batches=batches,
        seconds=clock() - started,
        dry_run=False,
        complete=complete,
    )
    if rows:
        # A run that found nothing is not written down: cron would fill the trail.
        BusEvent.objects.create(
            kind=BusEvent.Kind.PURGED,
            detail={
                "rows": rows,
                "bytes": freed,
                "payload_bytes": freed_payload,
                "batches": batches,
                "seconds": round(report.seconds, 3),
                "complete": complete,
            },
        )
    logger.info(
        "Purged %d expired bus message(s), %d bytes stored (%d uncompressed), "
        "in %d batch(es)%s",
        rows,
        freed,
        freed_payload,
        batches,
        "" if complete else "; stopped at the time limit",
    )
    return report


def _purge_batch(
    cutoff: datetime, after: datetime, batch_size: int
) -> tuple[int, int, int, datetime]:
    """Delete up to batch_size rows expiring in [after, cutoff), oldest first.

    Returns the rows deleted, their stored (compressed) and uncompressed bytes,
    and the newest expires_at among them.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PURGE_BATCH_SQL, [after, cutoff, batch_size])
            deleted, freed, payload, last = cursor.fetchone()
        return deleted, int(freed), int(payload), last
    with transaction.atomic():
        batch = list(
            Message.objects.filter(expires_at__gte=after, expires_at__lt=cutoff)
            .order_by("expires_at")
            .values_list(
                "id", "compressed_size_bytes", "payload_size_bytes", "expires_at"
            )[:batch_size]
        )
        Message.objects.filter(pk__in=[pk for pk, _, _, _ in batch]).delete()
    return (
        len(batch),
        sum(size for _, size, _, _ in batch),
        sum(size for _, _, size, _ in batch),
        max((expires for _, _, _, expires in batch), default=after),
    )


@contextmanager
def _purge_lock() -> Iterator[None]:
    """Hold the purge advisory lock on Postgres; SQLite serializes writers itself."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [PURGE_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise PurgeLockedError("another purge_bus is running (advisory lock held)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PURGE_LOCK_KEY])
        except DatabaseError:
            # A dead session has released its advisory locks already; do not
            # let this hide the error that broke the connection.
            logger.warning("Could not release the purge lock", exc_info=True)
