"""Tool kind `mcp`: call the tool on its upstream MCP server through the pool."""

from __future__ import annotations

from typing import Any

from bus.apps import bus_app
from bus.gateway.registry import ToolSpec
from bus.gateway.tools.base import ToolError
from bus.gateway.upstreams.client import result_outputs, result_text


async def run(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Call the upstream's tool and return its content; raise ToolError on failure."""
    connection = await bus_app().upstreams.connection(tool.upstream)
    result = await connection.call(tool.target, arguments, timeout)
    if result.is_error:
        raise ToolError(result_text(result) or f"{tool.name} failed upstream")
    return result_outputs(result)
