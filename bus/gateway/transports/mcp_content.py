"""What an MCP client sees of a call's outputs and errors: pure mapping, no Django.

Shared by /mcp/ (``mcp_results``) and the stdio bridge (``bus.mcp_bridge``),
which must not need the project's settings.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

# What resources/read serves: the joined text of the result's text outputs.
RESOURCE_MIME_TYPE = "text/plain"
# Details of an error body besides code and message that an agent acts on.
ERROR_DETAILS = ("retry_after", "scope", "original_request_id")


def tools_result(listings: list[dict[str, Any]]) -> types.ListToolsResult:
    """Return list_tools listings (name, description, inputSchema) as MCP's."""
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name=tool["name"],
                description=tool.get("description") or None,
                input_schema=tool["inputSchema"],
            )
            for tool in listings
        ]
    )


def error_result(code: str, message: str, **details: Any) -> types.CallToolResult:
    """Return a protocol error as MCP's tool error: `CODE: message`, isError."""
    shown = [f"{key} {details[key]}" for key in ERROR_DETAILS if key in details]
    text = f"{code}: {message}" + (f" ({', '.join(shown)})" if shown else "")
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content={"error": {"code": code, "message": message, **details}},
        is_error=True,
    )


def content_of(outputs: list[dict[str, Any]]) -> list[types.ContentBlock]:
    """Return the MCP content blocks of a call's outputs."""
    blocks: list[types.ContentBlock] = []
    for output in outputs:
        kind = output.get("type")
        if kind == "text":
            blocks.append(types.TextContent(text=str(output.get("text", ""))))
        elif kind == "image" and isinstance(output.get("data"), str):
            blocks.append(
                types.ImageContent(
                    data=output["data"],
                    mime_type=str(output.get("mimeType", "application/octet-stream")),
                )
            )
        else:
            # An output kind MCP has no block for still reaches the agent, as JSON.
            blocks.append(types.TextContent(text=json.dumps(output)))
    return blocks


def joined_text(outputs: list[dict[str, Any]]) -> str:
    """Return the text outputs joined, as the WebSocket `text` field joins them."""
    return "".join(
        str(output.get("text", ""))
        for output in outputs
        if output.get("type") == "text"
    )


def error_body_result(error: dict[str, Any]) -> types.CallToolResult:
    """Return the tool error of a protocol error body (`{"code", "message", ...}`)."""
    details = {k: v for k, v in error.items() if k not in ("code", "message")}
    return error_result(error["code"], error["message"], **details)
