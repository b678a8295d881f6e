"""What an MCP client gets for a call's answer, and for resources/read of a bus result.

Pure mapping plus the one bus read each needs: an error body becomes a tool
result with `isError` and the code at the start of its text; a result that
went to the bus is fetched in full (MCP_LARGE_RESULTS=inline) or handed out
as its preview and a `bus://<transaction_id>` resource link (resource_link).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from bus.exceptions import BusError
from bus.gateway.events import Answer
from bus.gateway.sessions import Agent
from bus.gateway.transports.mcp_content import (
    RESOURCE_MIME_TYPE,
    content_of,
    error_body_result,
    error_result,
    joined_text,
)
from bus.protocol import ErrorCode
from bus.store.claims import ClaimStore
from controlplane.config import Config

logger = logging.getLogger(__name__)

BUS_SCHEME = "bus://"
INLINE = "inline"


async def tool_result(
    answer: Answer, *, agent: Agent, claims: ClaimStore, config: Config
) -> types.CallToolResult:
    """Return the MCP tool result of a call's answer."""
    body = answer.body
    error = body.get("error")
    if error is not None:
        return error_body_result(error)
    bus = body.get("bus")
    if bus is None:
        return types.CallToolResult(content=content_of(body.get("outputs", [])))
    if config.MCP_LARGE_RESULTS == INLINE:
        try:
            outputs = await bus_outputs(
                agent=agent,
                transaction_id=bus["transaction_id"],
                claims=claims,
                config=config,
            )
        except BusError as exc:
            return error_result(exc.code, str(exc))
        return types.CallToolResult(content=content_of(outputs))
    return types.CallToolResult(
        content=[
            types.TextContent(text=bus.get("preview", "")),
            types.ResourceLink(
                uri=f"{BUS_SCHEME}{bus['transaction_id']}",
                name=bus["transaction_id"],
                description=(
                    "The whole result; read it with resources/read before it "
                    f"expires at {bus['expires_at']}."
                ),
                mime_type=RESOURCE_MIME_TYPE,
                size=bus["size_bytes"],
            ),
        ]
    )


async def bus_outputs(
    *, agent: Agent, transaction_id: str, claims: ClaimStore, config: Config
) -> list[dict[str, Any]]:
    """Return the outputs of the agent's stored result, checksum verified; raise
    BusError."""
    payload = await claims.fetch(
        agent_id=agent.id, transaction_id=transaction_id, config=config
    )
    return json.loads(bytes(payload.data))["outputs"]


async def read_bus_resource(
    uri: str, *, agent: Agent, claims: ClaimStore, config: Config
) -> types.ReadResourceResult:
    """Return a bus result as a text resource of its owner; raise MCPError.

    Another agent's result is answered exactly as one that never existed.
    """
    if not uri.startswith(BUS_SCHEME):
        raise MCPError(INVALID_PARAMS, f"Unknown resource: {uri}")
    try:
        outputs = await bus_outputs(
            agent=agent,
            transaction_id=uri.removeprefix(BUS_SCHEME),
            claims=claims,
            config=config,
        )
    except BusError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise MCPError(INVALID_PARAMS, f"Unknown resource: {uri}") from exc
        logger.warning("Cannot read %s for agent %s: %s", uri, agent.name, exc.code)
        raise MCPError(INTERNAL_ERROR, f"{exc.code}: {exc}") from exc
    return types.ReadResourceResult(
        contents=[
            types.TextResourceContents(
                uri=uri, mime_type=RESOURCE_MIME_TYPE, text=joined_text(outputs)
            )
        ]
    )
