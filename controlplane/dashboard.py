"""The admin home's state at a glance: breaker, sessions, capacity, calls, bus, audit.

One selector, ``dashboard_state``, gathers every figure from where it lives
(the gateway of this process, the call history, the message bus, the audit
runs); the template ``admin/dashboard.html`` only displays them, on the admin
home and on the fragment the page refreshes itself with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from django.utils import timezone

from audit.models import AuditRun
from bus.apps import bus_app
from bus.gateway.call_stats import CallMinute, calls_per_minute
from bus.gateway.deployment import deployment_view
from bus.gateway.live_capacity import ScopeRow
from bus.models import McpUpstream
from bus.store.selectors import BusNow, bus_now
from controlplane.charts import ColumnChart, column_chart
from controlplane.config import Config, get_config

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway

# The admin home shows the last hour of calls, minute by minute.
CHART_MINUTES = 60
# Every tenth minute is labelled under the chart's x axis.
CHART_LABEL_EVERY = 10
# How often the admin home fetches fresh figures.
REFRESH_SECS = 10
FULL_PERCENT = 100


@dataclass(frozen=True)
class LastHour:
    """Calls answered over the last hour, minute by minute."""

    minutes: list[CallMinute]

    @property
    def calls(self) -> int:
        """Return the calls answered within the hour."""
        return sum(minute.calls for minute in self.minutes)

    @property
    def errors(self) -> int:
        """Return the calls answered with an error code within the hour."""
        return sum(minute.errors for minute in self.minutes)

    @property
    def error_percent(self) -> float | None:
        """Return errors as a percentage of calls, None when there were none."""
        return FULL_PERCENT * self.errors / self.calls if self.calls else None

    @property
    def peak(self) -> int:
        """Return the most calls answered in one minute."""
        return max((minute.calls for minute in self.minutes), default=0)

    @property
    def per_minute(self) -> float:
        """Return the average calls per minute over the hour."""
        return self.calls / len(self.minutes) if self.minutes else 0.0


@dataclass(frozen=True)
class Dashboard:
    """Everything the admin home shows, read at `now`."""

    now: datetime
    breaker: str
    sessions: int
    limits: list[ScopeRow]
    last_hour: LastHour
    chart: ColumnChart
    bus: BusNow
    last_audit: AuditRun | None
    last_audit_findings: int
    upstreams: list[McpUpstream]
    refresh_secs: int


def dashboard_state(*, now: datetime | None = None) -> Dashboard:
    """Return the figures of the admin home at `now` (sync, as admin views are)."""
    now = now or timezone.now()
    gateway = bus_app().gateway
    config = get_config()
    last_hour = LastHour(calls_per_minute(now=now, minutes=CHART_MINUTES))
    last_audit = AuditRun.objects.order_by("-started_at", "-id").first()
    return Dashboard(
        now=now,
        breaker=gateway.claims.breaker_state,
        # Every worker's sessions: the deployment, as on the capacity page.
        sessions=async_to_sync(deployment_view)(gateway).sessions,
        limits=_limits(gateway, config),
        last_hour=last_hour,
        chart=_chart(last_hour),
        bus=bus_now(),
        last_audit=last_audit,
        last_audit_findings=last_audit.findings.count() if last_audit else 0,
        upstreams=list(McpUpstream.objects.filter(enabled=True).order_by("name")),
        refresh_secs=REFRESH_SECS,
    )


def _limits(gateway: Gateway, config: Config) -> list[ScopeRow]:
    """Return global, per-provider and per-session usage against their limits."""
    snapshot = async_to_sync(gateway.capacity_snapshot)(config, gateway.registry.get())
    usage = snapshot.global_usage
    limits = [ScopeRow("global", "all calls", usage.used, usage.available)]
    limits += [
        ScopeRow("provider", provider.name, provider.used, provider.available)
        for provider in snapshot.providers
    ]
    # One row for the per-session limit: the busiest session against it.
    busiest = max((session.used for session in snapshot.sessions), default=0)
    limits.append(
        ScopeRow("session", "busiest session", busiest, config.WS_SESSION_MAX_INFLIGHT)
    )
    return limits


def _chart(last_hour: LastHour) -> ColumnChart:
    zone = timezone.get_current_timezone_name()
    items, captions = [], []
    for minute in last_hour.minutes:
        label = timezone.localtime(minute.start).strftime("%H:%M")
        items.append((label, minute.calls, minute.errors))
        captions.append(f"{label} {zone}: {minute.calls} calls, {minute.errors} errors")
    return column_chart(
        "Calls per minute, last hour",
        items,
        y_title="calls",
        x_title=f"time ({zone})",
        captions=captions,
        label_every=CHART_LABEL_EVERY,
    )
