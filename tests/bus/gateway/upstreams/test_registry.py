"""Upstream tools in the registry: kind mcp, named upstream, off with it."""

from __future__ import annotations

import pytest

from bus.gateway.registry import ToolRegistry
from bus.gateway.upstreams import services
from bus.gateway.upstreams.spec import ToolDef
from bus.models import McpUpstream

pytestmark = pytest.mark.django_db

ECHO = ToolDef(
    remote_name="echo",
    description="Return the text.",
    input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
    idempotent=True,
)


def test_registry__lists_upstream_tools_until_the_upstream_is_disabled() -> None:
    upstream = services.upstream_add(name="web", url="http://127.0.0.1:9/mcp")
    services.upstream_tools_store(upstream_id=upstream.pk, tools=[ECHO])
    registry = ToolRegistry(interval=0.0)
    tool = registry.get().tools["web__echo"]
    assert (tool.kind, tool.target, tool.upstream) == ("mcp", "echo", "web")
    assert tool.provider == "web" and tool.idempotent is True
    assert tool.listing["inputSchema"] == ECHO.input_schema

    McpUpstream.objects.filter(pk=upstream.pk).update(enabled=False)
    assert "web__echo" not in registry.get().tools


def test_upstream_tools_store__writes_nothing_when_nothing_changed() -> None:
    upstream = services.upstream_add(name="web", url="http://127.0.0.1:9/mcp")
    first = services.upstream_tools_store(upstream_id=upstream.pk, tools=[ECHO])
    again = services.upstream_tools_store(upstream_id=upstream.pk, tools=[ECHO])
    assert first.added == ("web__echo",)
    # Workers store on every connect: an unchanged list must not reload registries.
    assert not again.changed
