"""Tool kind `mcp`: call the tool on its upstream MCP server through the pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.shared.dispatcher import ProgressFnT

from bus.apps import bus_app
from bus.gateway.registry import ToolSpec
from bus.gateway.tools.base import ToolError, heartbeat
from bus.gateway.upstreams.client import result_outputs, result_text


async def run(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Call the upstream's tool and return its content; raise ToolError on failure."""
    connection = await bus_app().upstreams.connection(tool.upstream)
    result = await connection.call(
        tool.target, arguments, timeout, progress=_forwarder(heartbeat.get())
    )
    if result.is_error:
        raise ToolError(result_text(result) or f"{tool.name} failed upstream")
    return result_outputs(result)


def _forwarder(send: Callable[[str], None] | None) -> ProgressFnT | None:
    """Return the SDK progress callback that sends the upstream's progress on."""
    if send is None:
        return None

    async def forward(
        progress: float, total: float | None, message: str | None
    ) -> None:
        # Runs in the SDK's receive task: `send` was read in the call's own.
        done = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
        send(f"upstream progress {done}" + (f": {message}" if message else ""))

    return forward
