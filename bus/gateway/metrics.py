"""Call metrics: one JSON line per answered call, and Prometheus metrics at /metrics.

Each answered call is also handed to the call history (``call_history``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from bus.gateway.deployment import deployment_view
from bus.gateway.worker import worker_id
from bus.protocol import Op, dumps

if TYPE_CHECKING:
    from bus.gateway.call_history import CallHistory
    from bus.gateway.events import Answer
    from bus.gateway.pipeline import Gateway
    from bus.gateway.registry import ToolSpec
    from bus.gateway.sessions import Session
    from controlplane.config import Config

logger = logging.getLogger(__name__)

# Every series this module exports carries the worker id: with `serve
# --workers N` the workers answer /metrics on one port, so the scraper's target
# labels cannot tell their series apart (PROTOCOL.md "Operating hooks").
WORKER = "worker"
# Lines reach the file within this delay of the answer (PROTOCOL: within 1 s),
# one write per batch instead of one per call.
FLUSH_DELAY_SECS = 0.25
UNKNOWN_TOOL = "(unknown)"

CALLS_NAME = "controlplane_ws_calls"
CALLS_HELP = "call_tool requests answered with a call_tool_res, by tool and outcome."
LATENCY_NAME = "controlplane_ws_call_latency_seconds"
LATENCY_HELP = "Seconds from a call_tool frame to its call_tool_res, by tool."
LATENCY_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip


class CallTally:
    """Answered calls and their latencies in plain numbers, read at scrape time.

    prometheus-client's Counter and Histogram take a lock per update and walk
    the buckets in Python: about 3 us per call (benchmarks/README.md, hot path,
    third pass). Here a call is a dict update and a bisect under one lock, and
    the collector turns the totals into the same series when /metrics is
    scraped; a call is counted as soon as it is recorded, which is right after
    its answer is queued, so a scrape that follows an answer sees it.
    """

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        # The event loop adds, a scrape's thread reads: the lock keeps a
        # histogram's buckets, count and sum of one moment together.
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = {}
        # Per tool: a count per bucket (the last is +Inf), then the sum.
        self._latency: dict[str, list[float]] = {}

    def add(self, tool: str, outcome: str, latency: float) -> None:
        """Count one answered call of `tool` with its outcome and latency."""
        # A bucket's bound is inclusive (le), as prometheus-client observes.
        bucket = bisect_left(self.buckets, latency)
        with self._lock:
            key = (tool, outcome)
            self._calls[key] = self._calls.get(key, 0) + 1
            row = self._latency.get(tool)
            if row is None:
                row = self._latency[tool] = [0] * (len(self.buckets) + 2)
            row[bucket] += 1
            row[-1] += latency

    def snapshot(
        self,
    ) -> tuple[dict[tuple[str, str], int], dict[str, list[float]]]:
        """Return copies of the call counts and the latency rows, of one moment."""
        with self._lock:
            return dict(self._calls), {
                tool: list(row) for tool, row in self._latency.items()
            }


class CallTallyCollector(Collector):
    """Export a CallTally as controlplane_ws_calls_total and the latency histogram."""

    def __init__(self, tally: CallTally) -> None:
        self.tally = tally

    def describe(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """Name the two families without reading the tally (used at registration)."""
        yield from self._families()

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """Yield every tool's call counts and latency histogram."""
        calls, latency = self.tally.snapshot()
        counter, histogram = self._families()
        worker = worker_id()
        for (tool, outcome), count in sorted(calls.items()):
            counter.add_metric([tool, outcome, worker], count)
        bounds = [str(float(bound)) for bound in self.tally.buckets] + ["+Inf"]
        for tool, row in sorted(latency.items()):
            cumulative, total = [], 0
            for bound, count in zip(bounds, row[:-1], strict=True):
                total += count
                cumulative.append((bound, total))
            histogram.add_metric([tool, worker], cumulative, sum_value=row[-1])
        yield counter
        yield histogram

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        return (
            CounterMetricFamily(
                CALLS_NAME, CALLS_HELP, labels=["tool", "outcome", WORKER]
            ),
            HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=["tool", WORKER]),
        )


CALL_TALLY = CallTally()
REGISTRY.register(CallTallyCollector(CALL_TALLY))
HELLO_REFUSALS = Counter(
    "controlplane_ws_hello_refusals",
    "Hellos refused, by reason (the hello_ack error); invalid_hello, "
    "missing_hello and unauthorized count towards WS_AUTH_FAILURES_PER_MINUTE.",
    ["reason", WORKER],
)


def resolve_path(path: str) -> Path:
    """Return a configured run-time file path, relative ones under DATA_DIR."""
    return Path(settings.DATA_DIR) / path


# Not frozen, like the other objects built once per call (Limits, Admission,
# Remembered): a frozen dataclass sets each field through object.__setattr__,
# which for these fifteen cost 1.5 us more per call. Nothing changes one.
@dataclass(slots=True)
class CallRecord:
    """One answered call as the metrics file, Prometheus and the call history see it."""

    session_id: str
    name: str
    provider: str
    outcome: str
    received_at: float
    size: int
    bus: bool
    request_id: str = ""
    agent_id: int | None = None
    agent_name: str = ""
    transport: str = ""
    transaction_id: str = ""
    error: str = ""
    replay: bool = False
    cached: bool = False

    @classmethod
    def of(
        cls,
        session: Session,
        tool: ToolSpec | None,
        asked: str,
        answer: Answer,
        received_at: float,
        size: int,
        *,
        replay: bool = False,
    ) -> CallRecord:
        """Return the record of an answer; `asked` names a tool that matched none.

        `replay` marks an answer taken from the replay cache (step 3).
        """
        body = answer.body
        error = body.get("error")
        bus = body.get("bus")
        return cls(
            session_id=session.session_id,
            name=tool.name if tool is not None else asked,
            provider=tool.provider if tool is not None else "",
            outcome=answer.outcome,
            received_at=received_at,
            size=size,
            bus=bus is not None,
            request_id=answer.request_id,
            agent_id=session.agent.id,
            agent_name=session.agent.name,
            transport=session.transport.name,
            transaction_id=bus["transaction_id"] if bus is not None else "",
            error=error["message"] if error is not None else "",
            replay=replay,
            cached=answer.cached,
        )

    def line(self, latency: float) -> dict[str, Any]:
        """Return the JSON line of PROTOCOL.md "Observability of calls"."""
        line = {
            "t": time.time(),
            "op": Op.CALL_TOOL,
            "lat": round(latency, 6),
            "sess": self.session_id,
            "name": self.name,
            "prov": self.provider,
            "outcome": self.outcome,
            "bytes": self.size,
            "bus": self.bus,
            "rid": self.request_id,
            "agent": self.agent_name,
            "worker": worker_id(),
        }
        # Only on answers that did not run the tool, as revision 1.1 adds them.
        if self.replay:
            line["replay"] = True
        if self.cached:
            line["cached"] = True
        return line


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


def record_call(
    config: Config, log: CallLog, history: CallHistory, record: CallRecord
) -> None:
    """Write an answered call to the metrics file, Prometheus and the call history.

    Neither waits for I/O: the line and the call record are queued, and written
    by their own timers, so a call is never slowed or failed by its record.
    """
    latency = time.perf_counter() - record.received_at
    log.append(config.WS_METRICS_PATH, record.line(latency))
    history.add(record, latency, config)
    # A tool name that matched nothing is the client's text: one label for all.
    tool = record.name if record.provider else UNKNOWN_TOOL
    CALL_TALLY.add(tool, record.outcome, latency)


def record_hello_refusal(reason: str) -> None:
    """Count a refused hello; the reason is one of the protocol's hello errors."""
    # Never labelled by address: one series per reason, whoever knocks.
    HELLO_REFUSALS.labels(reason, worker_id()).inc()


class GatewayCollector(Collector):
    """Report in-flight calls (global, per provider) and open sessions at scrape time.

    Two sets of gauges: `controlplane_ws_*` describe the worker that answers
    the scrape; `controlplane_deployment_*` are deployment-wide totals (every
    live worker, as of at most 2 s ago), the same on every worker, so that a
    dashboard needs neither every worker's scrape nor a sum across them.

    No series per session: session ids are unbounded label values, and a scrape
    must not tell anyone which sessions exist. The admin's capacity page has them.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        inflight = GaugeMetricFamily(
            "controlplane_ws_inflight",
            "Tool calls in flight in this process, global and by provider.",
            labels=["scope", "name", WORKER],
        )
        sessions = GaugeMetricFamily(
            "controlplane_ws_sessions",
            "Open agent WebSocket sessions in this process.",
            labels=[WORKER],
        )
        return inflight, sessions

    @staticmethod
    def _deployment_families() -> tuple[GaugeMetricFamily, ...]:
        every = "; every worker reports the same total: take max, never sum"
        return (
            GaugeMetricFamily(
                "controlplane_deployment_inflight",
                "Tool calls in flight, deployment-wide (every live worker, as of "
                "<=2 s), global and by provider" + every + ".",
                labels=["scope", "name", WORKER],
            ),
            GaugeMetricFamily(
                "controlplane_deployment_sessions",
                "Open agent sessions, deployment-wide (every live worker, as of "
                "<=2 s)" + every + ".",
                labels=[WORKER],
            ),
            GaugeMetricFamily(
                "controlplane_deployment_workers",
                "Live workers of the deployment (those that published a snapshot "
                "within 3 s), as this worker sees them.",
                labels=[WORKER],
            ),
            GaugeMetricFamily(
                "controlplane_deployment_stale",
                "1 when this worker cannot read the other workers (Redis down): "
                "the deployment gauges then hold its own figures only.",
                labels=[WORKER],
            ),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Name the gauges without reading any state (used at registration)."""
        yield from self._families()
        yield from self._deployment_families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield this worker's gauges, then the deployment's."""
        # Scrapes run in a sync view: the view is taken on the event loop,
        # which owns the gateway's state (its first worker is this one).
        view = async_to_sync(deployment_view)(self.gateway)
        own = view.workers[0]
        worker = worker_id()
        inflight, sessions = self._families()
        inflight.add_metric(["global", "", worker], own.slots)
        provider_limits = self.gateway.registry.get().provider_limits
        for name in sorted(set(provider_limits) | set(own.providers)):
            inflight.add_metric(["provider", name, worker], own.providers.get(name, 0))
        yield inflight
        sessions.add_metric([worker], own.sessions)
        yield sessions
        total, open_sessions, workers, stale = self._deployment_families()
        total.add_metric(["global", "", worker], view.inflight)
        used = view.providers()
        for name in sorted(set(provider_limits) | set(used)):
            total.add_metric(["provider", name, worker], used.get(name, 0))
        open_sessions.add_metric([worker], view.sessions)
        workers.add_metric([worker], len(view.workers))
        stale.add_metric([worker], int(view.stale))
        yield from (total, open_sessions, workers, stale)


def register_collector(gateway: Gateway) -> None:
    """Add the gateway's gauges to the default Prometheus registry."""
    REGISTRY.register(GatewayCollector(gateway))
