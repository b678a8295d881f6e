"""Read queries of the call history: calls and errors per minute, for the admin home."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute

from bus.models import CallRecord
from bus.models.calls import OK


@dataclass(frozen=True)
class CallMinute:
    """The calls answered within one minute, and how many of them failed."""

    start: datetime
    calls: int
    errors: int


def calls_per_minute(*, now: datetime, minutes: int) -> list[CallMinute]:
    """Return one entry per minute of the last `minutes`, oldest first, gaps as 0.

    The current minute is the last entry, so the series ends at `now`.
    """
    current = now.replace(second=0, microsecond=0)
    first = current - timedelta(minutes=minutes - 1)
    # A range scan of call_record_created_idx, grouped in the database.
    counted = {
        row["minute"]: row
        for row in CallRecord.objects.filter(created_at__gte=first)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(calls=Count("id"), errors=Count("id", filter=~Q(outcome=OK)))
        .order_by("minute")
    }
    series = []
    for offset in range(minutes):
        start = first + timedelta(minutes=offset)
        row = counted.get(start)
        series.append(
            CallMinute(
                start=start,
                calls=row["calls"] if row else 0,
                errors=row["errors"] if row else 0,
            )
        )
    return series
