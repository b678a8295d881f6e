"""Delete call records older than CALL_HISTORY_DAYS in batches (purge_calls)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from bus.models import CallRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPurgeReport:
    """Outcome of one purge of the call history."""

    rows: int
    batches: int
    seconds: float
    dry_run: bool
    complete: bool


def call_records_purge(
    *,
    days: int,
    batch_size: int,
    max_seconds: float | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CallPurgeReport:
    """Delete records older than `days` in batches and return the counts.

    The cutoff is fixed when the run starts, so records written meanwhile are
    never touched. on_batch(number, rows) reports progress.
    """
    started = clock()
    old = CallRecord.objects.filter(created_at__lt=timezone.now() - timedelta(days))
    if dry_run:
        return CallPurgeReport(
            rows=old.count(),
            batches=0,
            seconds=clock() - started,
            dry_run=True,
            complete=True,
        )
    rows = batches = 0
    complete = False
    while max_seconds is None or clock() - started < max_seconds:
        deleted = _purge_batch(old, batch_size)
        if deleted == 0:
            complete = True
            break
        batches += 1
        rows += deleted
        if on_batch is not None:
            on_batch(batches, deleted)
    report = CallPurgeReport(
        rows=rows,
        batches=batches,
        seconds=clock() - started,
        dry_run=False,
        complete=complete,
    )
    logger.info(
        "Purged %d call record(s) older than %d day(s) in %d batch(es)%s",
        rows,
        days,
        batches,
        "" if complete else "; stopped at the time limit",
    )
    return report


def _purge_batch(old: QuerySet, batch_size: int) -> int:
    """Delete the oldest batch_size of the old records; return how many went."""
    # Oldest first along call_record_created_idx; SKIP LOCKED leaves rows that
    # another run holds to it, so two runs never wait on each other.
    with transaction.atomic():
        ids = list(
            old.order_by("created_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        CallRecord.objects.filter(pk__in=ids).delete()
    return len(ids)
