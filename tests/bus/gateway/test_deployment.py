"""The deployment seam, in memory and in Redis: workers publish snapshots that
readers sum, replace them, withdraw them, and drop out when they stop
publishing; and the gateway's view of the deployment, stale when Redis is gone."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from bus.gateway.deployment import deployment_view, worker_snapshot
from bus.gateway.live_capacity import ScopeRow, human_duration
from bus.gateway.state.deployment import (
    DeploymentRegistry,
    MemoryDeployment,
    RedisDeployment,
    RunningCall,
    WorkerSnapshot,
)
from bus.gateway.worker import worker_id
from tests.servers import REDIS_URL, free_port, needs_redis

SHORT_TTL_SECS = 0.3
EXPIRY_DEADLINE_SECS = 5.0


class Clock:
    """A clock the memory implementation reads; tests move it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _snapshot(worker: str, *, sessions: int = 1, slots: int = 0) -> WorkerSnapshot:
    calls = tuple(
        RunningCall(
            worker=worker,
            agent_key=f"agent:{n}",
            agent="agent-one",
            tool="sleep",
            provider="builtin",
            request_id=f"r-{n}",
            session_id="s-1",
            started_at=time.time() - n,
        )
        for n in range(slots)
    )
    return WorkerSnapshot(
        worker=worker,
        t=time.time(),
        sessions=sessions,
        slots=slots,
        providers={"builtin": slots} if slots else {},
        calls=calls,
        calls_total=slots,
    )


@pytest.fixture
async def redis_registries() -> AsyncIterator[Callable[..., RedisDeployment]]:
    """Build RedisDeployment instances on one prefix of this test."""
    prefix = f"t{uuid.uuid4().hex[:8]}:{{deployment}}"
    client = Redis.from_url(REDIS_URL or "redis://unused")
    used: list[bool] = []

    def build(ttl: float = 3.0) -> RedisDeployment:
        used.append(True)
        return RedisDeployment(client, prefix=prefix, ttl=ttl)

    yield build
    if used:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def registry(request, redis_registries) -> DeploymentRegistry:
    """Each implementation of the seam; the Redis one on REDIS_TEST_URL."""
    if request.param == "memory":
        return MemoryDeployment()
    return redis_registries()


async def test_deployment__readers_see_every_published_worker(registry) -> None:
    await registry.publish(_snapshot("host:1", sessions=2, slots=1))
    await registry.publish(_snapshot("host:2", sessions=3, slots=2))
    workers = {snapshot.worker: snapshot for snapshot in await registry.workers()}
    assert set(workers) == {"host:1", "host:2"}
    assert workers["host:2"].sessions == 3 and workers["host:2"].slots == 2
    assert [call.request_id for call in workers["host:2"].calls] == ["r-0", "r-1"]
    assert workers["host:2"].providers == {"builtin": 2}


async def test_deployment__a_publish_replaces_the_workers_snapshot(registry) -> None:
    await registry.publish(_snapshot("host:1", sessions=5))
    await registry.publish(_snapshot("host:1", sessions=1))
    assert [s.sessions for s in await registry.workers()] == [1]


async def test_deployment__withdraw_removes_a_worker_at_once(registry) -> None:
    await registry.publish(_snapshot("host:1"))
    await registry.publish(_snapshot("host:2"))
    await registry.withdraw("host:1")
    assert [s.worker for s in await registry.workers()] == ["host:2"]
    await registry.withdraw("host:1")  # a second withdraw changes nothing


async def test_memory_deployment__a_worker_that_stops_publishing_drops_out() -> None:
    clock = Clock()
    registry = MemoryDeployment(ttl=3.0, clock=clock)
    await registry.publish(_snapshot("host:1"))
    clock.now += 2.9
    await registry.publish(_snapshot("host:2"))
    assert len(await registry.workers()) == 2
    clock.now += 0.2
    assert [s.worker for s in await registry.workers()] == ["host:2"]


@needs_redis
async def test_redis_deployment__a_worker_that_stops_publishing_drops_out(
    redis_registries,
) -> None:
    registry = redis_registries(ttl=SHORT_TTL_SECS)
    await registry.publish(_snapshot("host:dead"))
    assert len(await registry.workers()) == 1
    deadline = time.monotonic() + EXPIRY_DEADLINE_SECS
    while await registry.workers():
        assert time.monotonic() < deadline, "the snapshot never expired"
        await asyncio.sleep(0.05)


def test_worker_snapshot__round_trips_through_json() -> None:
    snapshot = _snapshot("host:1", sessions=2, slots=3)
    assert WorkerSnapshot.decode(snapshot.encode()) == snapshot


@pytest.mark.parametrize("raw", ['{"worker": "w"}', "[]", '{"calls": [1]}', "no"])
def test_worker_snapshot__refuses_a_malformed_one(raw: str) -> None:
    with pytest.raises(ValueError, match="malformed|Expecting"):
        WorkerSnapshot.decode(raw)


@pytest.mark.django_db(transaction=True)
async def test_deployment_view__sums_this_worker_and_the_published_ones(
    gateway, connect, agent
) -> None:
    client = await connect(agent[1])
    await client.start("sleep", {"seconds": 5}, request_id="long")
    await gateway.deployment.publish(_snapshot("elsewhere:7", sessions=4, slots=2))
    # This worker's own stale entry is ignored: its live figures count.
    await gateway.deployment.publish(_snapshot(worker_id(), sessions=9, slots=9))
    view = await deployment_view(gateway)
    assert [w.worker for w in view.workers] == [worker_id(), "elsewhere:7"]
    assert (view.sessions, view.inflight, view.stale) == (5, 3, False)
    assert view.providers() == {"builtin": 3}
    own = [call for call in view.calls() if call.worker == worker_id()]
    assert [(c.agent, c.tool, c.request_id) for c in own] == [
        ("agent-one", "sleep", "long")
    ]
    health = await gateway.health()
    assert (health["sessions"], health["global_inflight"]) == (5, 3)
    assert health["workers"] == 2 and health["stale"] is False
    session = next(iter(gateway.sessions.values()))
    assert await gateway.cancel(session, "long") is True
    frames = await client.until_result("long")
    assert frames[-1]["error"]["code"] == "CANCELLED"


@pytest.mark.django_db(transaction=True)
async def test_deployment_view__without_redis_is_this_worker_marked_stale(
    gateway, connect, agent
) -> None:
    # A Redis that is not there: nothing listens on the port.
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    gateway.deployment = RedisDeployment(client)
    ws = await connect(agent[1])
    view = await deployment_view(gateway)
    assert view.stale is True and view.sessions == 1
    assert [w.worker for w in view.workers] == [worker_id()]
    health = await gateway.health()
    assert health["stale"] is True and health["sessions"] == 1
    assert worker_snapshot(gateway).sessions == 1
    await ws.close()
    await client.aclose()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (4.9, "4 s"), (59, "59 s"), (60, "1 min"), (150, "2 min"),
     (3600, "1 h"), (3900, "1 h 5 min"), (-1, "0 s")],
)  # fmt: skip
def test_human_duration__reads_as_an_operator_says_it(seconds, shown) -> None:
    assert human_duration(seconds) == shown


def test_scope_row__percent_and_full_against_the_limit() -> None:
    assert (
        ScopeRow("global", "", 12, 12).percent,
        ScopeRow("global", "", 12, 12).full,
    ) == (100, True)
    assert (
        ScopeRow("provider", "p", 3, 12).percent,
        ScopeRow("provider", "p", 3, 12).full,
    ) == (25, False)
    # A provider without a limit of its own is never full and has no share.
    assert (
        ScopeRow("provider", "p", 7, 0).percent,
        ScopeRow("provider", "p", 7, 0).full,
    ) == (None, False)
