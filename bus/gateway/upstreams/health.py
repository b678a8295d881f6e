"""Health checks of upstream MCP servers: one per upstream, `mcp_upstream:<name>`."""

from __future__ import annotations

import dataclasses
import datetime

from health_check.base import HealthCheck
from health_check.exceptions import ServiceWarning

from bus.apps import bus_app
from bus.gateway.upstreams.pool import CONNECTING, DOWN


@dataclasses.dataclass
class UpstreamHealth(HealthCheck):
    """Warn while this process's session to the upstream is down or not yet open.

    A warning, not a failure: the control plane still serves every other
    tool, and a monitor that restarted it would not bring the upstream back.
    """

    name: str

    def __repr__(self) -> str:
        return f"mcp_upstream:{self.name}"

    async def run(self) -> None:
        connection = bus_app().upstreams.connections.get(self.name)
        if connection is None or connection.state == CONNECTING:
            raise ServiceWarning(f"upstream {self.name}: not connected yet")
        if connection.state == DOWN:
            since = datetime.datetime.fromtimestamp(connection.since, datetime.UTC)
            raise ServiceWarning(
                f"upstream {self.name} down since {since:%Y-%m-%d %H:%M:%S}Z: "
                f"{connection.error}"
            )


async def upstream_checks() -> list[HealthCheck]:
    """Return one check per enabled upstream, connecting this process to them."""
    pool = bus_app().upstreams
    await pool.start()
    return [UpstreamHealth(name=name) for name in sorted(pool.connections)]
