"""Read queries of the message bus: the overview page's counts and series."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import BigIntegerField, Count, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from bus.models import BusEvent, Message


@dataclass(frozen=True)
class CompressionStats:
    """Stored messages of one codec."""

    compression: str
    rows: int
    payload_bytes: int
    stored_bytes: int

    @property
    def ratio(self) -> float | None:
        """Return stored / uncompressed bytes, None when nothing is stored."""
        return self.stored_bytes / self.payload_bytes if self.payload_bytes else None


@dataclass(frozen=True)
class DayStats:
    """Results stored on one day (from the event trail, so purged ones count)."""

    day: date
    stored: int
    payload_bytes: int


@dataclass(frozen=True)
class BusOverview:
    """What the bus holds now and what it stored lately."""

    rows: int
    expired_rows: int
    by_status: dict[str, int]
    by_compression: list[CompressionStats]
    payload_bytes: int
    stored_bytes: int
    daily: list[DayStats]
    recent_events: list[BusEvent]

    @property
    def ratio(self) -> float | None:
        """Return stored / uncompressed bytes over all rows, None when empty."""
        return self.stored_bytes / self.payload_bytes if self.payload_bytes else None


def bus_overview(*, days: int, recent: int) -> BusOverview:
    """Return counts, bytes and ratios of stored messages and a per-day series."""
    now = timezone.now()
    by_compression = [
        CompressionStats(
            compression=row["compression_type"],
            rows=row["rows"],
            payload_bytes=row["payload"] or 0,
            stored_bytes=row["stored"] or 0,
        )
        for row in Message.objects.order_by("compression_type")
        .values("compression_type")
        .annotate(
            rows=Count("id"),
            payload=Sum("payload_size_bytes"),
            stored=Sum("compressed_size_bytes"),
        )
    ]
    by_status = {
        row["status"]: row["rows"]
        for row in Message.objects.order_by("status")
        .values("status")
        .annotate(rows=Count("id"))
    }
    expired = Message.objects.expired().count()
    return BusOverview(
        rows=sum(stats.rows for stats in by_compression),
        expired_rows=expired,
        by_status=by_status,
        by_compression=by_compression,
        payload_bytes=sum(stats.payload_bytes for stats in by_compression),
        stored_bytes=sum(stats.stored_bytes for stats in by_compression),
        daily=_daily_stored(now.date(), days),
        recent_events=list(BusEvent.objects.order_by("-id")[:recent]),
    )


def _daily_stored(today: date, days: int) -> list[DayStats]:
    first = today - timedelta(days=days - 1)
    counted = {
        row["day"]: row
        for row in BusEvent.objects.filter(
            kind=BusEvent.Kind.STORED, created_at__date__gte=first
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            stored=Count("id"),
            payload=Sum(Cast(KT("detail__size_bytes"), BigIntegerField())),
        )
        .order_by("day")
    }
    return [
        DayStats(
            day=day,
            stored=counted[day]["stored"] if day in counted else 0,
            payload_bytes=(counted[day]["payload"] or 0) if day in counted else 0,
        )
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


@dataclass(frozen=True)
class BusNow:
    """What the bus holds at this moment, for the admin home."""

    rows: int
    expired_rows: int
    payload_bytes: int
    stored_bytes: int
    next_expiry: datetime | None


def bus_now() -> BusNow:
    """Return the rows and bytes stored and when the next live message expires."""
    totals = Message.objects.aggregate(
        rows=Count("id"),
        payload=Sum("payload_size_bytes"),
        stored=Sum("compressed_size_bytes"),
    )
    # Walks message_bus_expires_at_idx from now: the first live row is the next.
    upcoming = Message.objects.live().order_by("expires_at").values("expires_at")
    first = upcoming.first()
    return BusNow(
        rows=totals["rows"],
        expired_rows=Message.objects.expired().count(),
        payload_bytes=totals["payload"] or 0,
        stored_bytes=totals["stored"] or 0,
        next_expiry=first["expires_at"] if first else None,
    )
