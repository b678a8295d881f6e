"""Health checks of upstream MCP servers: one per upstream, `mcp_upstream:<name>`.

In a process whose pool runs (a `serve` worker), each check reports that
process's own session. Elsewhere (a process that serves only HTTP, a test
client) it reports the status the workers last recorded on the row, and
connects to nothing: a health probe must not launch upstream processes.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

from django.db import DatabaseError
from health_check.base import HealthCheck
from health_check.exceptions import ServiceWarning

from bus.apps import bus_app
from bus.gateway.upstreams.pool import DOWN, UP
from bus.models import McpUpstream

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class UpstreamHealth(HealthCheck):
    """Warn while the session to the upstream is down or not yet open.

    A warning, not a failure: the control plane still serves every other
    tool, and a monitor that restarted it would not bring the upstream back.
    """

    name: str
    state: str = dataclasses.field(default="", repr=False)
    error: str = dataclasses.field(default="", repr=False)
    since: datetime.datetime | None = dataclasses.field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"mcp_upstream:{self.name}"

    async def run(self) -> None:
        if self.state == UP:
            return
        if self.state == DOWN:
            when = f" since {self.since:%Y-%m-%d %H:%M:%S}Z" if self.since else ""
            raise ServiceWarning(f"upstream {self.name} down{when}: {self.error}")
        raise ServiceWarning(f"upstream {self.name}: not connected yet")


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


async def _recorded() -> list[HealthCheck]:
    rows = McpUpstream.objects.filter(enabled=True, provider__enabled=True)
    try:
        return [
            UpstreamHealth(
                name=row.name,
                state=row.status,
                error=row.last_error,
                since=row.last_down_at,
            )
            async for row in rows.order_by("name")
        ]
    except DatabaseError:
        # The database check of the same page reports the outage; the rest
        # of the page must still answer.
        logger.warning(
            "Cannot read the upstream MCP servers for /health/", exc_info=True
        )
        return []


async def upstream_checks() -> list[HealthCheck]:
    """Return one check per enabled upstream."""
    pool = bus_app().upstreams
    if not pool.running_here():
        return await _recorded()
    return [
        UpstreamHealth(
            name=name,
            state=connection.state,
            error=connection.error,
            since=_utc(connection.since),
        )
        for name, connection in sorted(pool.connections.items())
    ]
