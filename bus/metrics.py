"""Call metrics: one JSON line per answered call, and Prometheus metrics at /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bus.capacity import CapacitySnapshot
from bus.protocol import dumps

logger = logging.getLogger(__name__)

# Lines reach the file within this delay of the answer (PROTOCOL: within 1 s),
# one write per batch instead of one per call.
FLUSH_DELAY_SECS = 0.25
UNKNOWN_TOOL = "(unknown)"

CALLS = Counter(
    "controlplane_ws_calls",
    "call_tool requests answered with a call_tool_res, by tool and outcome.",
    ["tool", "outcome"],
)
LATENCY = Histogram(
    "controlplane_ws_call_latency_seconds",
    "Seconds from a call_tool frame to its call_tool_res, by tool.",
    ["tool"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def resolve_path(path: str) -> Path:
    """Return a configured file path, relative ones under the project directory."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(settings.BASE_DIR) / path


class CallLog:
    """Append call records to the JSON-lines metrics file in small batches."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, str]] = []
        self._timer: asyncio.TimerHandle | None = None

    def append(self, path: str, entry: dict[str, Any]) -> None:
        """Queue one record; it is written within FLUSH_DELAY_SECS."""
        self._pending.append((path, dumps(entry)))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                FLUSH_DELAY_SECS, self.flush
            )

    def flush(self) -> None:
        """Write every queued record now; a failure is logged, never raised."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        by_path: dict[str, list[str]] = {}
        for path, line in pending:
            by_path.setdefault(path, []).append(line)
        for path, lines in by_path.items():
            target = resolve_path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(lines) + "\n")
            except OSError:
                logger.exception(
                    "Cannot write %d call metric line(s) to %s", len(lines), target
                )


_calls_by_label: dict[tuple[str, str], Any] = {}
_latency_by_tool: dict[str, Any] = {}


def observe_call(tool: str, outcome: str, latency: float) -> None:
    """Count an answered call in the Prometheus metrics."""
    # labels() costs a lock and a tuple build per call; the children are stable.
    counter = _calls_by_label.get((tool, outcome))
    if counter is None:
        counter = _calls_by_label[(tool, outcome)] = CALLS.labels(tool, outcome)
    histogram = _latency_by_tool.get(tool)
    if histogram is None:
        histogram = _latency_by_tool[tool] = LATENCY.labels(tool)
    counter.inc()
    histogram.observe(latency)


class GatewayCollector(Collector):
    """Report in-flight calls by scope and open sessions at scrape time."""

    def __init__(
        self, snapshot: Callable[[], CapacitySnapshot], sessions: Callable[[], int]
    ) -> None:
        self._snapshot = snapshot
        self._sessions = sessions

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        inflight = GaugeMetricFamily(
            "controlplane_ws_inflight",
            "Tool calls in flight in this process, by capacity scope.",
            labels=["scope", "name"],
        )
        sessions = GaugeMetricFamily(
            "controlplane_ws_sessions", "Open agent WebSocket sessions."
        )
        return inflight, sessions

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Name the gauges without reading any state (used at registration)."""
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the in-flight and session gauges."""
        snapshot = self._snapshot()
        inflight, sessions = self._families()
        inflight.add_metric(["global", ""], snapshot.global_usage.used)
        for usage in snapshot.providers:
            inflight.add_metric(["provider", usage.name], usage.used)
        for usage in snapshot.sessions:
            inflight.add_metric(["session", usage.name], usage.used)
        yield inflight
        sessions.add_metric([], self._sessions())
        yield sessions


def register_collector(collector: GatewayCollector) -> None:
    """Add the gateway's gauges to the default Prometheus registry."""
    REGISTRY.register(collector)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Expose the Prometheus metrics in the text format."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
