"""`manage.py mcp_upstream`: add, list, refresh, remove, against real upstreams."""

from __future__ import annotations

import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from bus.models import McpUpstream, Provider, Tool
from tests.bus.gateway.upstreams.helpers import stdio_command
from tests.servers import free_port

pytestmark = pytest.mark.django_db


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command("mcp_upstream", *arguments, stdout=out)
    return out.getvalue()


def test_mcp_upstream_add__stdio_stores_prefixed_tools_with_schemas(state) -> None:
    out = _run(
        "add",
        "local",
        "--stdio",
        stdio_command(),
        "--env",
        f"UPSTREAM_STATE_DIR={state}",
        "--prefix",
        "loc",
    )
    assert "added local (stdio, provider local)" in out
    tools = {tool.name: tool for tool in Tool.objects.filter(upstream__name="local")}
    assert {"loc__echo", "loc__fail", "loc__sleep"} <= set(tools)
    echo = tools["loc__echo"]
    assert echo.kind == Tool.Kind.MCP and echo.target == "echo"
    assert echo.input_schema["required"] == ["text"]
    assert echo.provider.name == "local" and echo.provider.max_inflight == 0
    upstream = McpUpstream.objects.get(name="local")
    assert upstream.status == McpUpstream.Status.UP and upstream.tools_fetched_at


def test_mcp_upstream_add__names_an_existing_provider(http_upstream) -> None:
    Provider.objects.create(name="shared", max_inflight=3)
    _run("add", "web", "--url", http_upstream.url, "--provider", "shared")
    assert set(
        Tool.objects.filter(upstream__name="web").values_list(
            "provider__name", flat=True
        )
    ) == {"shared"}
    assert Provider.objects.get(name="shared").max_inflight == 3


def test_mcp_upstream_list__masks_header_values(http_upstream) -> None:
    _run(
        "add", "web", "--url", http_upstream.url, "--header", "Authorization: Bearer s3"
    )
    out = _run("list")
    assert "Authorization=********" in out
    assert "s3" not in out
    assert "web__echo" in out and "\tup\t" in out


def test_mcp_upstream_add__unreachable_is_kept_down_and_exits_1() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(CommandError) as raised:
        _run("add", "gone", "--url", url)
    assert raised.value.returncode == 1
    assert "cannot list the tools of gone" in str(raised.value)
    upstream = McpUpstream.objects.get(name="gone")
    assert upstream.status == McpUpstream.Status.DOWN
    assert upstream.last_error and upstream.last_down_at


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["add", "bad name", "--url", "http://x/mcp"], "name"),
        (["add", "web", "--stdio", "cmd", "--header", "K: V"], "--header"),
        (["refresh", "nobody"], "no upstream MCP server named 'nobody'"),
        (["remove", "nobody"], "no upstream MCP server named 'nobody'"),
    ],
)
def test_mcp_upstream__bad_arguments_exit_2(arguments, message) -> None:
    with pytest.raises(CommandError) as raised:
        _run(*arguments)
    assert raised.value.returncode == 2
    assert message in str(raised.value)
    assert not McpUpstream.objects.exists()


def test_mcp_upstream_add__a_taken_name_exits_2(http_upstream) -> None:
    _run("add", "web", "--url", http_upstream.url)
    with pytest.raises(CommandError) as raised:
        _run("add", "web", "--url", http_upstream.url)
    assert raised.value.returncode == 2
    assert McpUpstream.objects.count() == 1


def test_mcp_upstream_refresh__keeps_operator_switches_and_drops_gone_tools(
    http_upstream,
) -> None:
    _run("add", "web", "--url", http_upstream.url)
    Tool.objects.filter(name="web__record").update(enabled=False, timeout_secs=3)
    Tool.objects.filter(name="web__echo").update(description="old text")
    stale = Tool.objects.get(name="web__echo")
    Tool.objects.create(
        name="web__gone",
        kind=Tool.Kind.MCP,
        target="gone",
        provider=stale.provider,
        upstream=stale.upstream,
    )
    out = _run("refresh", "web")
    assert "1 updated, 1 removed" in out
    record = Tool.objects.get(name="web__record")
    assert record.enabled is False and record.timeout_secs == 3
    assert Tool.objects.get(name="web__echo").description == "Return the text."
    assert not Tool.objects.filter(name="web__gone").exists()


def test_mcp_upstream_remove__deletes_its_tools_keeps_the_provider(
    http_upstream,
) -> None:
    _run("add", "web", "--url", http_upstream.url)
    out = _run("remove", "web")
    assert "removed web" in out
    assert not Tool.objects.filter(name__startswith="web__").exists()
    assert Provider.objects.filter(name="web").exists()


def test_mcp_upstream_add__skips_a_name_another_tool_has(http_upstream) -> None:
    provider = Provider.objects.create(name="mine")
    Tool.objects.create(
        name="web__echo", target="bus.tools.builtin.echo", provider=provider
    )
    _run("add", "web", "--url", http_upstream.url)
    assert Tool.objects.get(name="web__echo").kind == Tool.Kind.PYTHON
    assert Tool.objects.filter(upstream__name="web").count() >= 5


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/nonexistent/mcp-server --flag", "FileNotFoundError"),
        # Runs, but never speaks MCP: the handshake times out.
        (f"{sys.executable} -c 'import time; time.sleep(60)'", "no MCP handshake"),
    ],
)
def test_mcp_upstream_add__a_command_that_is_no_mcp_server_says_why(
    command, reason, ws_config
) -> None:
    ws_config(MCP_UPSTREAM_CONNECT_TIMEOUT_SECS=1.0)
    with pytest.raises(CommandError) as raised:
        _run("add", "bad", "--stdio", command)
    assert raised.value.returncode == 1
    assert reason in str(raised.value)
    assert reason in McpUpstream.objects.get(name="bad").last_error
