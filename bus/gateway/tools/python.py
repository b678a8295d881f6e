"""Tool kind `python`: a sync or async callable named by its dotted path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from bus.gateway.registry import ToolSpec
from bus.gateway.tools.base import ToolError


async def run(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Call the tool's callable with the arguments; raise ToolError if it has none."""
    if tool.function is None:
        raise ToolError(tool.load_error or f"tool {tool.name} has no callable")
    if tool.is_async:
        return await tool.function(**arguments)
    # A thread cannot be interrupted: on timeout or cancel the call is answered
    # at once and the thread finishes on its own.
    return await asyncio.to_thread(_checked, tool.function, arguments)


def _checked(function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    # A sync tool may use the ORM in this worker thread, whose connection is
    # kept (CONN_MAX_AGE): check it before and after, as run_in_db_thread does,
    # so that a connection the database cut is reopened rather than failing.
    close_old_connections()
    try:
        return function(**arguments)
    finally:
        close_old_connections()
