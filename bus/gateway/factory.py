"""Build a gateway with its state: once per process at start-up, or by a test."""

from __future__ import annotations

from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bus.gateway.pipeline import Gateway
from bus.gateway.registry import ToolRegistry
from bus.gateway.state.admission import CallAdmission
from bus.gateway.state.capacity import CapacityLimiter
from bus.gateway.state.completion import CallCompletion
from bus.gateway.state.deployment import (
    DeploymentRegistry,
    MemoryDeployment,
    RedisDeployment,
)
from bus.gateway.state.hello_failures import (
    HelloFailures,
    MemoryHelloFailures,
    RedisHelloFailures,
)
from bus.gateway.state.inflight import CallsInFlight
from bus.gateway.state.memory import (
    MemoryCallsInFlight,
    MemoryCapacity,
    MemoryResultCache,
)
from bus.gateway.state.redis_admission import RedisAdmission
from bus.gateway.state.redis_batch import ScriptBatches
from bus.gateway.state.redis_capacity import RedisCapacity
from bus.gateway.state.redis_completion import RedisCompletion
from bus.gateway.state.redis_inflight import RedisCallsInFlight
from bus.gateway.state.redis_results import RedisResultCache
from bus.gateway.state.results import ResultCache
from bus.store.claims import ClaimStore

STALE_CONNECTION_RETRIES = 1


def build_gateway(*, claims: ClaimStore) -> Gateway:
    """Return a gateway whose shared state is in Redis when REDIS_URL is set."""
    client = build_redis()
    capacity: CapacityLimiter = MemoryCapacity()
    hello_failures: HelloFailures = MemoryHelloFailures()
    in_flight: CallsInFlight = MemoryCallsInFlight()
    deployment: DeploymentRegistry = MemoryDeployment()
    results: ResultCache = MemoryResultCache()
    completion: CallCompletion | None = None
    admission: CallAdmission | None = None
    if client is not None:
        redis_capacity = RedisCapacity(client)
        redis_in_flight = RedisCallsInFlight(client)
        redis_results = RedisResultCache(client)
        capacity, in_flight, results = redis_capacity, redis_in_flight, redis_results
        hello_failures = RedisHelloFailures(client)
        deployment = RedisDeployment(client)
        admission, completion = batched_steps(
            client,
            results=redis_results,
            in_flight=redis_in_flight,
            capacity=redis_capacity,
        )
    return Gateway(
        capacity=capacity,
        in_flight=in_flight,
        results=results,
        hello_failures=hello_failures,
        registry=ToolRegistry(),
        claims=claims,
        deployment=deployment,
        completion=completion,
        admission=admission,
    )


def batched_steps(
    client: Redis,
    *,
    results: RedisResultCache,
    in_flight: RedisCallsInFlight,
    capacity: RedisCapacity,
) -> tuple[RedisAdmission, RedisCompletion]:
    """Return the admission and completion that batch the Redis seams' steps."""
    # A call's three opening steps in one round trip, and its three closing
    # ones in another, not six (benchmarks/README.md).
    batches = ScriptBatches(client)
    admission = RedisAdmission(batches, in_flight=in_flight, capacity=capacity)
    completion = RedisCompletion(
        batches, results=results, in_flight=in_flight, capacity=capacity
    )
    return admission, completion


def build_redis() -> Redis | None:
    """Return the gateway's Redis client, or None when REDIS_URL is empty."""
    # Not overridable, so the environment layer is the effective value; reading
    # it needs no database at start-up. The client connects on first use.
    values = settings.CONTROLPLANE_BASE_CONFIG.values
    if not values["REDIS_URL"]:
        return None
    timeout = values["REDIS_TIMEOUT_SECS"]
    return Redis.from_url(
        values["REDIS_URL"],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # After Redis restarts, each pooled connection fails once ("closed by
        # server"): one retry on a fresh connection. Not on timeouts, so a
        # Redis that hangs still fails a command within REDIS_TIMEOUT_SECS.
        retry=Retry(NoBackoff(), STALE_CONNECTION_RETRIES),
        retry_on_error=[RedisConnectionError],
    )


def build_results(client: Redis | None) -> ResultCache:
    """Return the result cache: in Redis on the given client, else in memory."""
    if client is not None:
        return RedisResultCache(client)
    return MemoryResultCache()
