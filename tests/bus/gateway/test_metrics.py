"""Call metrics: the tally behind /metrics counts exactly what was answered."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bus.gateway.metrics import (
    CALLS_NAME,
    LATENCY_BUCKETS,
    LATENCY_NAME,
    CallTally,
    CallTallyCollector,
)
from bus.gateway.worker import worker_id

LATENCIES = (0.0, 0.0005, 0.001, 0.0011, 0.01, 0.3, 1, 60, 99.5)


def _series(text: str) -> list[str]:
    # prometheus-client's own Counter and Histogram add a _created sample per
    # series (the time of their first update), which the tally does not keep.
    return [
        line
        for line in text.splitlines()
        if not line.startswith("#") and "_created" not in line
    ]


def test_call_tally__exports_what_prometheus_client_would():
    """Same series, labels, bucket bounds, counts and sums as Counter/Histogram."""
    worker = worker_id()
    reference = CollectorRegistry()
    calls = Counter(CALLS_NAME, "h", ["tool", "outcome", "worker"], registry=reference)
    latency = Histogram(
        LATENCY_NAME,
        "h",
        ["tool", "worker"],
        buckets=LATENCY_BUCKETS,
        registry=reference,
    )
    tally = CallTally()
    ours = CollectorRegistry()
    ours.register(CallTallyCollector(tally))
    for n, seconds in enumerate(LATENCIES):
        tool, outcome = ("echo", "ok") if n % 3 else ("sleep", "timeout")
        calls.labels(tool, outcome, worker).inc()
        latency.labels(tool, worker).observe(seconds)
        tally.add(tool, outcome, seconds)
    expected = _series(generate_latest(reference).decode())
    assert sorted(_series(generate_latest(ours).decode())) == sorted(expected)


def test_call_tally__empty_exports_no_series():
    ours = CollectorRegistry()
    ours.register(CallTallyCollector(CallTally()))
    assert _series(generate_latest(ours).decode()) == []


def _value(body: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.django_db(transaction=True)
async def test_metrics__scrape_counts_every_answered_call_at_once(
    admin_client_logged_in, connect_to_process, agent
) -> None:
    """Each answer is in the very next scrape: no batch waits for a flush."""
    worker = f'worker="{worker_id()}"'
    calls = f'controlplane_ws_calls_total{{outcome="ok",tool="echo",{worker}}}'
    count = f'controlplane_ws_call_latency_seconds_count{{tool="echo",{worker}}}'
    scrape = database_sync_to_async(admin_client_logged_in.get)
    before = (await scrape("/metrics")).text
    client = await connect_to_process(agent[1])
    for n in range(1, 4):
        await client.call("echo", {"text": f"metrics {n}"}, request_id=f"m-{n}")
        body = (await scrape("/metrics")).text
        assert _value(body, calls) == _value(before, calls) + n
        assert _value(body, count) == _value(before, count) + n
