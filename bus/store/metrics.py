"""Prometheus metrics of the message bus, on the default registry /metrics serves."""

from collections.abc import Callable

from prometheus_client import Counter, Gauge

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}

stored_total = Counter(
    "controlplane_bus_stored_total", "Results stored as claim checks.", ["compression"]
)
stored_bytes_total = Counter(
    "controlplane_bus_stored_bytes_total",
    "Uncompressed bytes of results stored as claim checks.",
)
fetched_total = Counter(
    "controlplane_bus_fetched_total", "Claim checks served after checksum verification."
)
acked_total = Counter("controlplane_bus_acked_total", "Claim checks released early.")
errors_total = Counter(
    "controlplane_bus_errors_total",
    "Bus operations answered with an error, by protocol code.",
    ["code"],
)
fallback_total = Counter(
    "controlplane_bus_fallback_total",
    "Results that could not be stored, by outcome (inline or unavailable).",
    ["outcome"],
)
purged_rows_total = Counter(
    "controlplane_bus_purged_rows_total", "Expired rows deleted by purge_bus."
)
breaker_transitions_total = Counter(
    "controlplane_bus_breaker_transitions_total",
    "Circuit breaker state changes, by new state.",
    ["state"],
)
breaker_state = Gauge(
    "controlplane_bus_breaker_state",
    "Message bus circuit breaker: 0 closed, 1 half-open, 2 open.",
)


def watch_breaker(state: Callable[[], str]) -> None:
    """Make the breaker gauge read the live state at every scrape."""
    breaker_state.set_function(lambda: BREAKER_STATE_VALUES[state()])
