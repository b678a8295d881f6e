"""Tool kind `python`: a sync or async callable named by its dotted path."""

from __future__ import annotations

import asyncio
from typing import Any

from bus.gateway.registry import ToolSpec
from bus.gateway.tools.base import ToolError
from bus.store.claims import with_checked_connection


async def run(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Call the tool's callable with the arguments; raise ToolError if it has none."""
    if tool.function is None:
        raise ToolError(tool.load_error or f"tool {tool.name} has no callable")
    if tool.is_async:
        return await tool.function(**arguments)
    # A thread cannot be interrupted: on timeout or cancel the call is answered
    # at once and the thread finishes on its own. A sync tool may use the ORM
    # in it, on a kept connection (CONN_MAX_AGE): one the database cut is
    # reopened, not failed.
    return await asyncio.to_thread(with_checked_connection, tool.function, **arguments)
