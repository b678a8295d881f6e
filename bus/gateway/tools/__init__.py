"""Tool kinds: one module per kind, each with `run(tool, arguments, timeout)`.

Adding a kind is a module here, a line in KINDS and a choice on `Tool.Kind`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bus.gateway.registry import ToolSpec
from bus.gateway.tools import http, mcp, python
from bus.gateway.tools.base import ToolError, ToolTimeout, to_outputs

Runner = Callable[[ToolSpec, dict[str, Any], float], Awaitable[Any]]

KINDS: dict[str, Runner] = {"python": python.run, "http": http.run, "mcp": mcp.run}


async def run_tool(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Run a tool by its kind and return its raw result; raise ToolError on failure."""
    runner = KINDS.get(tool.kind)
    if runner is None:
        raise ToolError(f"tool {tool.name} has an unknown kind {tool.kind!r}")
    return await runner(tool, arguments, timeout)


__all__ = ["KINDS", "ToolError", "ToolTimeout", "run_tool", "to_outputs"]
