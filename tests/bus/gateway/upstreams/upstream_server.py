"""A small upstream MCP server for the tests, on the SDK's MCPServer (FastMCP).

Run as ``python upstream_server.py stdio`` or ``python upstream_server.py http
PORT``. ``UPSTREAM_STATE_DIR`` names a folder where it writes its pid
(``pid``), marks a started and a cancelled ``sleep`` (``started``,
``cancelled``), and where a file named
``down`` makes it refuse to start (exit 1), so a test can keep it down.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

STATE = Path(os.environ.get("UPSTREAM_STATE_DIR", "."))

server = MCPServer("test-upstream")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool(annotations=ToolAnnotations(idempotent_hint=True, read_only_hint=False))
def upper(text: str) -> str:
    """Return the text in capitals."""
    return text.upper()


@server.tool()
def record(text: str) -> str:
    """Pretend to write something: no annotations, so it has side effects."""
    return f"recorded {text}"


@server.tool()
def fail(message: str) -> str:
    """Raise a tool error with the message."""
    raise ToolError(message)


@server.tool()
def big(size: int) -> str:
    """Return size characters."""
    return "x" * size


@server.tool()
async def sleep(seconds: float, ctx: Context) -> str:
    """Sleep, reporting progress; mark the state folder when started and cancelled."""
    (STATE / "started").write_text("yes")
    try:
        for step in range(int(seconds * 10)):
            await ctx.report_progress(step / 10, seconds)
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        (STATE / "cancelled").write_text("yes")
        raise
    return "slept"


def extra() -> str:
    """A tool that appears when grow is called."""
    return "extra"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool extra and tell the client that the tool list changed."""
    server.add_tool(extra)
    await ctx.session.send_tool_list_changed()
    return "grown"


def main() -> None:
    if (STATE / "down").exists():
        sys.exit(1)
    (STATE / "pid").write_text(str(os.getpid()))
    if sys.argv[1] == "stdio":
        server.run("stdio")
        return
    import uvicorn

    uvicorn.run(
        server.streamable_http_app(),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
    )


if __name__ == "__main__":
    main()
