"""The deployment as one: this worker's snapshot, its publisher, and the sums.

``health``, the deployment gauges of ``/metrics`` and the admin's live
capacity page read a ``DeploymentView``: this worker's figures taken now, plus
the other live workers' snapshots from the deployment registry (at most
``PUBLISH_INTERVAL_SECS`` old). When the registry cannot be read (Redis down),
the view holds this worker alone and says so (``stale``), so that readers
still answer, and the next read after Redis returns is whole again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bus.gateway.delivery import bus_status
from bus.gateway.state.deployment import (
    MAX_PUBLISHED_CALLS,
    PUBLISH_INTERVAL_SECS,
    RunningCall,
    WorkerSnapshot,
)
from bus.gateway.worker import worker_id
from controlplane.config import aget_config

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentView:
    """The live workers' snapshots, this worker's first, and whether that is all."""

    workers: list[WorkerSnapshot]
    # True when the registry could not be read: the figures are this worker's.
    stale: bool = False

    @property
    def sessions(self) -> int:
        """Return the open sessions of every live worker."""
        return sum(worker.sessions for worker in self.workers)

    @property
    def inflight(self) -> int:
        """Return the slots held by every live worker (calls in flight)."""
        return sum(worker.slots for worker in self.workers)

    def providers(self) -> dict[str, int]:
        """Return the slots held per provider, summed over the live workers."""
        totals: dict[str, int] = {}
        for worker in self.workers:
            for name, used in worker.providers.items():
                totals[name] = totals.get(name, 0) + used
        return totals

    def calls(self) -> list[RunningCall]:
        """Return every listed running call, the longest-running first."""
        listed = [call for worker in self.workers for call in worker.calls]
        return sorted(listed, key=lambda call: call.started_at)


def worker_snapshot(gateway: Gateway) -> WorkerSnapshot:
    """Return what this worker holds now (no I/O)."""
    now, clock = time.time(), time.perf_counter()
    worker = worker_id()
    providers: dict[str, int] = {}
    calls: list[RunningCall] = []
    for call in list(gateway.running.values()):
        if call.slot is None:
            # Registered, not admitted yet (or refused): it holds nothing.
            continue
        providers[call.tool.provider] = providers.get(call.tool.provider, 0) + 1
        calls.append(
            RunningCall(
                worker=worker,
                agent_key=call.agent.key,
                agent=call.agent.name,
                tool=call.tool.name,
                provider=call.tool.provider,
                request_id=call.request_id,
                session_id=call.origin.session_id,
                # received_at is perf_counter time (the call records' clock).
                started_at=now - (clock - call.received_at),
            )
        )
    calls.sort(key=lambda call: call.started_at)
    return WorkerSnapshot(
        worker=worker,
        t=now,
        sessions=len(gateway.sessions),
        slots=len(calls),
        providers=providers,
        calls=tuple(calls[:MAX_PUBLISHED_CALLS]),
        calls_total=len(calls),
    )


async def deployment_view(gateway: Gateway) -> DeploymentView:
    """Return every live worker's snapshot, or this worker's alone when stale."""
    own = worker_snapshot(gateway)
    try:
        published = await gateway.deployment.workers()
    except RedisError:
        # The readers (health, /metrics, the admin) must answer during an
        # outage: they get this worker's figures, marked stale.
        logger.warning(
            "Cannot read the deployment's workers from Redis; reporting this "
            "worker's own figures",
            exc_info=True,
        )
        return DeploymentView([own], stale=True)
    others = [snapshot for snapshot in published if snapshot.worker != own.worker]
    others.sort(key=lambda snapshot: snapshot.worker)
    return DeploymentView([own, *others])


async def deployment_health(gateway: Gateway) -> dict[str, Any]:
    """Return the health op's snapshot: deployment-wide figures, this worker named.

    `sessions` and `global_inflight` sum every live worker (as of at most
    2 s ago); `stale` is true when the other workers could not be read and
    the figures are this worker's alone.
    """
    config = await aget_config()
    registry = await gateway.registry.aget()
    view = await deployment_view(gateway)
    uptime = int(time.time() - gateway.started_at)
    return {
        "t": time.time(),
        "uptime_human": str(timedelta(seconds=uptime)),
        "uptime_s": uptime,
        "sessions": view.sessions,
        "global_capacity": config.WS_GLOBAL_MAX_INFLIGHT,
        "global_inflight": view.inflight,
        "tool_count": len(registry.tools),
        "bus": bus_status(gateway.claims, config),
        "worker": worker_id(),
        "workers": len(view.workers),
        "stale": view.stale,
    }


async def keep_published(gateway: Gateway) -> None:
    """Publish this worker's snapshot every PUBLISH_INTERVAL_SECS until cancelled."""
    failing = False
    while True:
        try:
            await gateway.deployment.publish(worker_snapshot(gateway))
        except RedisError:
            # Logged once per outage, not once a second; the next round tries
            # again, so publishing resumes by itself when Redis returns.
            if not failing:
                logger.warning(
                    "Cannot publish this worker's snapshot to Redis; other "
                    "workers will not count it until Redis answers",
                    exc_info=True,
                )
            failing = True
        else:
            if failing:
                logger.info("Publishing this worker's snapshot again")
            failing = False
        await asyncio.sleep(PUBLISH_INTERVAL_SECS)


async def withdraw(gateway: Gateway) -> None:
    """Remove this worker from the deployment at once (clean shutdown)."""
    try:
        await gateway.deployment.withdraw(worker_id())
    except RedisError:
        # Shutdown goes on: the snapshot expires within its TTL anyway.
        logger.warning(
            "Cannot withdraw this worker from Redis; its snapshot expires instead",
            exc_info=True,
        )
