"""Build a gateway with its state: once per process at start-up, or by a test."""

from __future__ import annotations

from bus.gateway.pipeline import Gateway
from bus.gateway.registry import ToolRegistry
from bus.gateway.state.memory import MemoryCallsInFlight, MemoryCapacity
from bus.gateway.state.results import CacheResults
from bus.store.claims import ClaimStore


def build_gateway(*, claims: ClaimStore) -> Gateway:
    """Return a gateway over in-process state, results on Django's default cache."""
    return Gateway(
        capacity=MemoryCapacity(),
        in_flight=MemoryCallsInFlight(),
        results=CacheResults(),
        registry=ToolRegistry(),
        claims=claims,
    )
