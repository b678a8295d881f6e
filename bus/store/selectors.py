"""Read queries of the message bus: the overview page's counts and series, the
admin's preview of a stored result and its event trail."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import BigIntegerField, Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from bus.models import BusEvent, Message
from bus.store import codec, payload_io
from controlplane.models import AgentToken

logger = logging.getLogger(__name__)

# Read beyond a preview's length: a zstd block (at most 128 KiB) decodes only
# once it is whole, and a gzip stream's header and first block come first.
PREVIEW_READ_EXTRA_BYTES = 256 * 1024


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
        recent_events=list(with_links(BusEvent.objects.order_by("-id"))[:recent]),
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


@dataclass(frozen=True)
class Preview:
    """The start of a stored result as text, or why it cannot be shown."""

    text: str
    truncated: bool
    problem: str = ""


def message_preview(*, message: Message, limit: int) -> Preview:
    """Return the first limit bytes of a message's result, decoded as UTF-8.

    Neither a fetch (no event, no accessed_at) nor a verification: the download
    and the agents' fetches check the checksum. Only the start of the stored
    bytes is read, enough for the first compressed block, so a 100 MiB result
    costs no more than a small one.
    """
    stored = payload_io.read_payload_head(message, limit + PREVIEW_READ_EXTRA_BYTES)
    if stored is None:
        # Acked or purged while the page was opening: nothing to show, not an error.
        return Preview(text="", truncated=False, problem="the row is gone")
    try:
        head = codec.decompress_head(stored, message.compression_type, limit=limit)
    except codec.CodecError as exc:
        logger.warning("Cannot preview bus message %s: %s", message.transaction_id, exc)
        return Preview(text="", truncated=False, problem=f"corrupt payload: {exc}")
    # A cut may fall inside a multi-byte character: show it replaced, not fail.
    return Preview(
        text=head.decode("utf-8", errors="replace"),
        truncated=message.payload_size_bytes > len(head),
    )


def message_events(transaction_id: str) -> QuerySet[BusEvent]:
    """Return a message's events, oldest first, with their agent's token id."""
    return with_links(BusEvent.objects.filter(transaction_id=transaction_id)).order_by(
        "id"
    )


def with_links(events: QuerySet[BusEvent]) -> QuerySet[BusEvent]:
    """Annotate events with message_pk and agent_pk (None when gone) for links."""
    # Events keep names, not keys (the trail outlives its rows), so the rows they
    # name are looked up by value, one subquery per column, not one per event.
    return events.annotate(
        message_pk=Subquery(
            Message.objects.filter(transaction_id=OuterRef("transaction_id")).values(
                "pk"
            )[:1]
        ),
        agent_pk=Subquery(
            AgentToken.objects.filter(name=OuterRef("agent_name")).values("pk")[:1]
        ),
    )
