"""Build a gateway with its state: once per process at start-up, or by a test."""

from __future__ import annotations

from django.conf import settings
from redis.asyncio import Redis

from bus.gateway.pipeline import Gateway
from bus.gateway.registry import ToolRegistry
from bus.gateway.state.hello_failures import MemoryHelloFailures
from bus.gateway.state.memory import (
    MemoryCallsInFlight,
    MemoryCapacity,
    MemoryResultCache,
)
from bus.gateway.state.redis_results import RedisResultCache
from bus.gateway.state.results import ResultCache
from bus.store.claims import ClaimStore


def build_gateway(*, claims: ClaimStore) -> Gateway:
    """Return a gateway over in-process state, results where build_results puts them."""
    return Gateway(
        capacity=MemoryCapacity(),
        in_flight=MemoryCallsInFlight(),
        results=build_results(),
        hello_failures=MemoryHelloFailures(),
        registry=ToolRegistry(),
        claims=claims,
    )


def build_results() -> ResultCache:
    """Return the result cache: in Redis when REDIS_URL is set, else in memory."""
    # Not overridable, so the environment layer is the effective value; reading
    # it needs no database at start-up. The client connects on first use.
    values = settings.CONTROLPLANE_BASE_CONFIG.values
    if values["REDIS_URL"]:
        timeout = values["REDIS_TIMEOUT_SECS"]
        client = Redis.from_url(
            values["REDIS_URL"], socket_timeout=timeout, socket_connect_timeout=timeout
        )
        return RedisResultCache(client)
    return MemoryResultCache()
