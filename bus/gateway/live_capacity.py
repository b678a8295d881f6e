"""What the admin's live capacity page shows: the deployment's limits, workers,
running calls and recent rejections, read once per page (a selector).

Usage per scope comes from the capacity seam (with REDIS_URL the leases of
every worker, exact); workers and their calls from the deployment view (as of
at most a second ago). When Redis cannot be read, both fall back to this
worker's own figures and the page says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from bus.gateway.deployment import DeploymentView, deployment_view
from bus.gateway.registry import Registry
from bus.gateway.state.capacity import CapacitySnapshot, RejectionRecord, ScopeUsage
from bus.gateway.state.deployment import RunningCall, WorkerSnapshot
from bus.protocol import Scope
from controlplane.config import Config

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway

logger = logging.getLogger(__name__)

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600


def human_duration(seconds: float) -> str:
    """Return a duration as an operator reads it: "4 s", "2 min", "1 h 5 min"."""
    whole = max(0, int(seconds))
    if whole < SECONDS_PER_MINUTE:
        return f"{whole} s"
    if whole < SECONDS_PER_HOUR:
        return f"{whole // SECONDS_PER_MINUTE} min"
    hours, rest = divmod(whole, SECONDS_PER_HOUR)
    minutes = rest // SECONDS_PER_MINUTE
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _moment(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)


@dataclass(frozen=True)
class ScopeRow:
    """One scope's usage against its limit (0: no limit of its own)."""

    scope: str
    name: str
    used: int
    limit: int

    @property
    def percent(self) -> int | None:
        """Return the share of the limit in use, None without a limit."""
        if not self.limit:
            return None
        return min(100, round(100 * self.used / self.limit))

    @property
    def full(self) -> bool:
        """Return whether the next call in this scope would be refused."""
        return bool(self.limit) and self.used >= self.limit

    @classmethod
    def of(cls, usage: ScopeUsage, scope: str) -> ScopeRow:
        """Return the row of a scope's usage."""
        return cls(scope, usage.name, usage.used, usage.available)


@dataclass(frozen=True)
class SessionRow:
    """A session's slots against the session limit, with its agent if known."""

    usage: ScopeRow
    agent: str


@dataclass(frozen=True)
class CallRow:
    """A running call with its runtime."""

    call: RunningCall
    started: datetime
    runtime: str


@dataclass(frozen=True)
class RejectionRow:
    """A recent rejection with its time."""

    record: RejectionRecord
    at: datetime
    ago: str


@dataclass(frozen=True)
class WorkerRow:
    """A live worker and what it holds."""

    snapshot: WorkerSnapshot
    this: bool
    seen: datetime


@dataclass(frozen=True)
class LiveCapacity:
    """Everything the live capacity page shows, read at one moment."""

    now: datetime
    shared: bool  # REDIS_URL is set: the page shows every worker
    redis_down: bool
    scopes: list[ScopeRow]
    sessions: list[SessionRow]
    workers: list[WorkerRow]
    calls: list[CallRow]
    calls_unlisted: int
    rejections: list[RejectionRow]


async def live_capacity(
    gateway: Gateway, *, config: Config, registry: Registry, shared: bool
) -> LiveCapacity:
    """Return the page's figures; Redis down gives this worker's, marked so.

    The caller passes the configuration and registry it read in its own
    thread (a sync view), so that this coroutine touches no database.
    """
    view = await deployment_view(gateway)
    redis_down = view.stale
    try:
        snapshot = await gateway.capacity_snapshot(config, registry)
    except RedisError:
        logger.warning(
            "Cannot read capacity from Redis; showing this worker's", exc_info=True
        )
        redis_down = True
        snapshot = _own_snapshot(view, config, dict(registry.provider_limits))
    now = datetime.now(tz=UTC)
    agents = _session_agents(gateway, view)
    return LiveCapacity(
        now=now,
        shared=shared,
        redis_down=redis_down,
        scopes=[
            ScopeRow.of(snapshot.global_usage, Scope.GLOBAL),
            *(ScopeRow.of(usage, Scope.PROVIDER) for usage in snapshot.providers),
        ],
        sessions=[
            SessionRow(ScopeRow.of(usage, Scope.SESSION), agents.get(usage.name, ""))
            for usage in snapshot.sessions
        ],
        workers=[
            WorkerRow(worker, index == 0, _moment(worker.t))
            for index, worker in enumerate(view.workers)
        ],
        calls=[
            CallRow(call, _moment(call.started_at), _runtime(now, call.started_at))
            for call in view.calls()
        ],
        calls_unlisted=sum(w.calls_total - len(w.calls) for w in view.workers),
        rejections=[
            RejectionRow(record, _moment(record.at), _runtime(now, record.at))
            for record in snapshot.rejections
        ],
    )


def _runtime(now: datetime, since: float) -> str:
    return human_duration(now.timestamp() - since)


def _session_agents(gateway: Gateway, view: DeploymentView) -> dict[str, str]:
    # Sessions of other workers are known by their calls only.
    agents = {call.session_id: call.agent for call in view.calls()}
    for session_id, session in list(gateway.sessions.items()):
        agents[session_id] = session.agent.name
    return agents


def _own_snapshot(
    view: DeploymentView, config: Config, provider_limits: dict[str, int]
) -> CapacitySnapshot:
    sessions: dict[str, int] = {}
    for call in view.calls():
        sessions[call.session_id] = sessions.get(call.session_id, 0) + 1
    return CapacitySnapshot.of(
        used_global=view.inflight,
        providers=view.providers(),
        sessions=sessions,
        rejections=[],
        global_max=config.WS_GLOBAL_MAX_INFLIGHT,
        provider_limits=provider_limits,
        session_max=config.WS_SESSION_MAX_INFLIGHT,
        session_ids=[],
    )
