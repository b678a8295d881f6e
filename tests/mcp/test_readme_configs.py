"""Every MCP client configuration in the README works as written, tried with the
SDK client its MCP client uses underneath (streamable HTTP or stdio)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.clients import TIMEOUT
from tests.servers import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CONFIG = re.compile(r"<!-- mcp-config: (\S+) -->\n```json\n(.*?)\n```", re.S)
# The four clients the README promises, each both ways.
EXPECTED = {
    "claude-desktop-stdio",
    "claude-code-http",
    "claude-code-stdio",
    "cursor-http",
    "cursor-stdio",
    "vscode-http",
    "vscode-stdio",
}
TOKEN_PLACEHOLDERS = (
    "${CONTROL_PLANE_TOKEN}",
    "${env:CONTROL_PLANE_TOKEN}",
    "${input:control-plane-token}",
    "PASTE-THE-AGENT-TOKEN",
)


def _configs() -> dict[str, dict[str, Any]]:
    text = (ROOT / "README.md").read_text()
    return {name: json.loads(body) for name, body in CONFIG.findall(text)}


def _filled(value: Any, *, port: int, token: str) -> Any:
    """Fill in what a user replaces (server, repository) and what the client
    expands (the token), the way each client does."""
    if isinstance(value, dict):
        return {k: _filled(v, port=port, token=token) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(item, port=port, token=token) for item in value]
    if isinstance(value, str):
        value = value.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        value = value.replace("/path/to/control-plane", str(ROOT))
        for placeholder in TOKEN_PLACEHOLDERS:
            value = value.replace(placeholder, token)
    return value


async def _try(session: ClientSession) -> None:
    await session.initialize()
    assert "echo" in {tool.name for tool in (await session.list_tools()).tools}
    echoed = await session.call_tool("echo", {"text": "configured"})
    assert echoed.content[0].text == "configured"


async def test_readme_configs__every_client_configuration_connects(
    control_plane, agent, tmp_path
) -> None:
    configs = _configs()
    assert set(configs) == EXPECTED
    server = control_plane()
    for name, config in configs.items():
        servers = config.get("mcpServers") or config["servers"]
        (entry,) = _filled(servers, port=server.port, token=agent[1]).values()
        if "url" in entry:
            async with (
                httpx2.AsyncClient(headers=entry["headers"], timeout=TIMEOUT) as http,
                streamable_http_client(entry["url"], http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await _try(session)
            continue
        # Launched from elsewhere, with only the configured environment.
        parameters = StdioServerParameters(
            command=entry["command"], args=entry["args"], env=entry["env"], cwd=tmp_path
        )
        with (tmp_path / f"{name}.log").open("w") as errlog:
            async with (
                stdio_client(parameters, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await _try(session)
