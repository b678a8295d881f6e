"""Admin of upstream MCP servers: add with refresh, status, masked secrets, tools."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bus.models import McpUpstream, Provider, Tool
from tests.servers import free_port

pytestmark = pytest.mark.django_db


def _form(provider: Provider, **fields: str) -> dict[str, str]:
    return {
        "name": "web",
        "transport": "http",
        "prefix": "web",
        "provider": str(provider.pk),
        "enabled": "on",
        "url": "",
        "command_line": "",
        "header_lines": "",
        "env_lines": "",
        "tools-TOTAL_FORMS": "0",
        "tools-INITIAL_FORMS": "0",
        **fields,
    }


def test_upstream_admin__add_lists_tools_and_masks_headers(
    admin_client_logged_in, http_upstream
) -> None:
    provider = Provider.objects.create(name="web")
    response = admin_client_logged_in.post(
        reverse("admin:bus_mcpupstream_add"),
        _form(provider, url=http_upstream.url, header_lines="X-Api-Key: s3cret-value"),
        follow=True,
    )
    assert response.status_code == 200
    assert "tool(s) added" in response.text
    upstream = McpUpstream.objects.get(name="web")
    assert upstream.headers == {"X-Api-Key": "s3cret-value"}
    assert upstream.status == McpUpstream.Status.UP
    change = admin_client_logged_in.get(
        reverse("admin:bus_mcpupstream_change", args=[upstream.pk])
    )
    assert "s3cret-value" not in change.text
    assert "X-Api-Key: ********" in change.text
    assert "web__echo" in change.text
    listing = admin_client_logged_in.get(reverse("admin:bus_mcpupstream_changelist"))
    assert "s3cret-value" not in listing.text and ">up</span>" in listing.text


def test_upstream_admin__saving_the_mask_keeps_the_stored_secret(
    admin_client_logged_in, http_upstream
) -> None:
    provider = Provider.objects.create(name="web")
    upstream = McpUpstream.objects.create(
        name="web",
        prefix="web",
        transport="http",
        url=http_upstream.url,
        headers={"Authorization": "Bearer kept"},
        provider=provider,
    )
    response = admin_client_logged_in.post(
        reverse("admin:bus_mcpupstream_change", args=[upstream.pk]),
        _form(
            provider,
            url=http_upstream.url,
            prefix="w2",
            header_lines="Authorization: ********\nX-Extra: new",
        ),
    )
    assert response.status_code == 302
    upstream.refresh_from_db()
    assert upstream.headers == {"Authorization": "Bearer kept", "X-Extra": "new"}
    assert Tool.objects.filter(name="w2__echo", upstream=upstream).exists()


def test_upstream_admin__refresh_action_reports_an_unreachable_upstream_down(
    admin_client_logged_in,
) -> None:
    provider = Provider.objects.create(name="gone")
    upstream = McpUpstream.objects.create(
        name="gone",
        prefix="gone",
        transport="http",
        url=f"http://127.0.0.1:{free_port()}/mcp",
        provider=provider,
    )
    response = admin_client_logged_in.post(
        reverse("admin:bus_mcpupstream_changelist"),
        {"action": "refresh_tools", "_selected_action": [upstream.pk]},
        follow=True,
    )
    assert "Cannot list the tools of gone" in response.text
    upstream.refresh_from_db()
    assert upstream.status == McpUpstream.Status.DOWN
    assert "down" in response.text and upstream.last_error[:20] in response.text


def test_upstream_admin__stdio_needs_a_command_and_escapes_errors(
    admin_client_logged_in,
) -> None:
    provider = Provider.objects.create(name="p")
    response = admin_client_logged_in.post(
        reverse("admin:bus_mcpupstream_add"),
        _form(provider, name="local", transport="stdio", prefix="local"),
    )
    assert response.status_code == 200
    assert "A stdio upstream needs a command." in response.text
    McpUpstream.objects.create(
        name="x",
        prefix="x",
        transport="http",
        url="http://127.0.0.1:9/mcp",
        provider=provider,
        status="down",
        last_error="<script>alert(1)</script>",
    )
    listing = admin_client_logged_in.get(reverse("admin:bus_mcpupstream_changelist"))
    assert "<script>alert(1)</script>" not in listing.text
    assert "&lt;script&gt;" in listing.text


def test_tool_admin__an_mcp_tool_needs_its_upstream(admin_client_logged_in) -> None:
    provider = Provider.objects.create(name="p")
    response = admin_client_logged_in.post(
        reverse("admin:bus_tool_add"),
        {
            "name": "orphan",
            "kind": "mcp",
            "target": "echo",
            "provider": provider.pk,
            "input_schema": '{"type": "object"}',
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "An mcp tool needs its upstream MCP server." in response.text
    assert not Tool.objects.filter(name="orphan").exists()
