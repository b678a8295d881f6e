"""What the gateway needs to reach one upstream MCP server, read from its row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bus.models import McpUpstream

SECRET_MASK = "********"
# Tool names are <prefix>__<tool>: two underscores, valid in every LLM API's
# function names, and unlikely inside either part.
SEPARATOR = "__"


@dataclass(frozen=True)
class UpstreamSpec:
    """How to reach an upstream: a command to launch, or a URL with headers.

    Frozen and compared by value, so a process restarts a session exactly when
    what it would connect to changed.
    """

    id: int
    name: str
    transport: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    url: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, row: McpUpstream) -> UpstreamSpec:
        """Return the spec of an upstream row."""
        return cls(
            id=row.pk,
            name=row.name,
            transport=row.transport,
            command=row.command,
            args=tuple(str(arg) for arg in row.args or ()),
            env=tuple(sorted((str(k), str(v)) for k, v in (row.env or {}).items())),
            url=row.url,
            headers=tuple(
                sorted((str(k), str(v)) for k, v in (row.headers or {}).items())
            ),
        )


@dataclass(frozen=True)
class ToolDef:
    """One tool an upstream lists, as the gateway will offer it."""

    remote_name: str
    description: str
    input_schema: dict[str, Any]
    idempotent: bool


def tool_name(prefix: str, remote_name: str) -> str:
    """Return the name agents see for an upstream's tool."""
    return f"{prefix}{SEPARATOR}{remote_name}"


def masked(values: dict[str, Any] | None) -> dict[str, str]:
    """Return secret values (headers, environment) with the values hidden."""
    return {str(key): SECRET_MASK for key in (values or {})}
