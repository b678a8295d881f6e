"""Delete expired messages in batches (purge_bus)."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from bus import bus_metrics
from bus.exceptions import PurgeLockedError
from bus.models import BusEvent, Message

logger = logging.getLogger(__name__)

# Key of the session advisory lock that keeps two purge_bus runs apart
# ("purge_bu" in ASCII, so it is recognisable in pg_locks).
PURGE_LOCK_KEY = 0x70757267655F6275

# ORDER BY expires_at makes each batch an index range scan on
# message_bus_expires_at_idx that stops after LIMIT rows; without it Postgres
# plans a sequential scan per batch once many rows are expired. SKIP LOCKED
# leaves rows another transaction holds (a sliced fetch, an ack, an expiry) to
# the next run.
_PURGE_BATCH_SQL = """
WITH doomed AS (
    SELECT id FROM message_bus
    WHERE expires_at < %s
    ORDER BY expires_at
    LIMIT %s
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM message_bus AS m USING doomed
    WHERE m.id = doomed.id
    RETURNING m.compressed_size_bytes
)
SELECT count(*), coalesce(sum(compressed_size_bytes), 0) FROM gone
"""


@dataclass(frozen=True)
class PurgeReport:
    """Outcome of one purge run."""

    rows: int
    bytes: int
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
            rows=Count("id"), bytes=Sum("compressed_size_bytes")
        )
        return PurgeReport(
            rows=totals["rows"],
            bytes=totals["bytes"] or 0,
            batches=0,
            seconds=clock() - started,
            dry_run=True,
            complete=True,
        )
    rows = freed = batches = 0
    complete = False
    with _purge_lock():
        while True:
            if max_seconds is not None and clock() - started >= max_seconds:
                break
            deleted, deleted_bytes = _purge_batch(cutoff, batch_size)
            if deleted == 0:
                complete = True
                break
            batches += 1
            rows += deleted
            freed += deleted_bytes
            bus_metrics.purged_rows_total.inc(deleted)
            if on_batch is not None:
                on_batch(batches, deleted, deleted_bytes)
    report = PurgeReport(
        rows=rows,
        bytes=freed,
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
                "batches": batches,
                "seconds": round(report.seconds, 3),
                "complete": complete,
            },
        )
    logger.info(
        "Purged %d expired bus message(s), %d bytes, in %d batch(es)%s",
        rows,
        freed,
        batches,
        "" if complete else "; stopped at the time limit",
    )
    return report


def _purge_batch(cutoff: datetime, batch_size: int) -> tuple[int, int]:
    """Delete up to batch_size expired rows in their own transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PURGE_BATCH_SQL, [cutoff, batch_size])
            deleted, freed = cursor.fetchone()
        return deleted, int(freed)
    with transaction.atomic():
        ids = list(
            Message.objects.filter(expires_at__lt=cutoff)
            .order_by("expires_at")
            .values_list("id", flat=True)[:batch_size]
        )
        doomed = Message.objects.filter(pk__in=ids)
        freed = doomed.aggregate(bytes=Sum("compressed_size_bytes"))["bytes"] or 0
        doomed.delete()
    return len(ids), freed


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
