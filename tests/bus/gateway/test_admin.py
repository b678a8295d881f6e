"""Admin: tokens shown once and revocable, tools validated, live capacity, metrics."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from bus.models import Provider, Tool
from controlplane.models import AgentToken
from controlplane.tokens import token_hash

pytestmark = pytest.mark.django_db(transaction=True)


def _create_token(client, name: str = "ops-agent") -> str:
    response = client.post(
        reverse("admin:controlplane_agenttoken_add"),
        {"name": name, "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    match = re.search(r'<code id="agent-token"[^>]*>([^<]+)</code>', response.text)
    assert match, response.text
    return match.group(1)


def test_agent_token_admin__token_shown_once_and_stored_hashed(
    admin_client_logged_in,
) -> None:
    raw = _create_token(admin_client_logged_in)
    row = AgentToken.objects.get(name="ops-agent")
    assert row.token_hash == token_hash(raw) and raw not in row.token_hash
    change = admin_client_logged_in.get(
        reverse("admin:controlplane_agenttoken_change", args=[row.pk])
    )
    listing = admin_client_logged_in.get(
        reverse("admin:controlplane_agenttoken_changelist")
    )
    assert change.status_code == 200 and listing.status_code == 200
    assert raw not in change.text and raw not in listing.text
    assert row.token_hash not in change.text


def test_agent_token_admin__allowed_tools_are_saved(
    admin_client_logged_in, builtin_tools
) -> None:
    admin_client_logged_in.post(
        reverse("admin:controlplane_agenttoken_add"),
        {"name": "narrow", "allowed_tools": ["echo"]},
    )
    assert AgentToken.objects.get(name="narrow").allowed_tools == ["echo"]


async def test_agent_token_admin__revoked_token_fails_hello(
    admin_client_logged_in, ws_application
) -> None:
    from tests.bus.conftest import Client

    raw = await sync_to_async(_create_token)(admin_client_logged_in)
    row = await AgentToken.objects.aget(name="ops-agent")
    ok = Client(ws_application)
    assert (await ok.connect(raw))["ok"] is True
    await ok.close()
    response = await sync_to_async(admin_client_logged_in.post)(
        reverse("admin:controlplane_agenttoken_changelist"),
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    refused = Client(ws_application)
    assert await refused.connect(raw) == {
        "op": "hello_ack",
        "ok": False,
        "error": "unauthorized",
    }
    assert (await refused.comm.receive_output())["code"] == 4003
    await refused.close()


def test_tool_admin__rejects_invalid_schema_and_target(
    admin_client_logged_in, builtin_tools
) -> None:
    provider = Provider.objects.get(name="builtin")
    response = admin_client_logged_in.post(
        reverse("admin:bus_tool_add"),
        {
            "name": "broken",
            "kind": "python",
            "target": "no.such.module",
            "provider": provider.pk,
            "input_schema": '{"type": "nonsense"}',
            "idempotent": "on",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "Not a valid JSON Schema" in response.text
    assert "Cannot import no.such.module" in response.text
    assert not Tool.objects.filter(name="broken").exists()


def test_tool_admin__http_tool_is_created(admin_client_logged_in, builtin_tools):
    provider = Provider.objects.get(name="builtin")
    response = admin_client_logged_in.post(
        reverse("admin:bus_tool_add"),
        {
            "name": "remote",
            "kind": "http",
            "target": "http://127.0.0.1:9/tool",
            "provider": provider.pk,
            "input_schema": '{"type": "object"}',
            "timeout_secs": "2.5",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    tool = Tool.objects.get(name="remote")
    assert tool.kind == "http" and tool.timeout_secs == 2.5 and not tool.idempotent


def test_admin__gateway_pages_load(admin_client_logged_in, builtin_tools) -> None:
    for name in (
        "admin:bus_provider_changelist",
        "admin:bus_tool_changelist",
        "admin:controlplane_agenttoken_changelist",
        "admin:bus_capacity",
    ):
        assert admin_client_logged_in.get(reverse(name)).status_code == 200


async def test_capacity_page__shows_sessions_slots_and_rejections(
    admin_client_logged_in, connect_to_process, agent, ws_config
) -> None:
    ws_config(WS_SESSION_MAX_INFLIGHT=1)
    client = await connect_to_process(agent[1])
    await client.start("sleep", {"seconds": 0.3}, request_id="a")
    rejected = await client.call("sleep", {"seconds": 0.2}, request_id="b")
    assert rejected[-1]["error"]["scope"] == "session"
    page = await sync_to_async(admin_client_logged_in.get)(
        reverse("admin:bus_capacity")
    )
    text = page.text
    session_id = client.hello_ack["session_id"]
    assert session_id in text and "agent-one" in text
    sessions_table = text.split('id="capacity-sessions"')[1].split("</table>")[0]
    assert "<td>1</td><td>1</td>" in sessions_table
    rejections = text.split('id="capacity-rejections"')[1].split("</table>")[0]
    assert "<td>session</td>" in rejections
    await client.until_result("a")


async def test_metrics__prometheus_counts_calls(
    admin_client_logged_in, connect_to_process, agent
) -> None:
    client = await connect_to_process(agent[1])
    await client.call("echo", {"text": "m"})
    response = await sync_to_async(admin_client_logged_in.get)("/metrics")
    assert response.status_code == 200
    body = response.text
    assert 'controlplane_ws_calls_total{outcome="ok",tool="echo"}' in body
    assert "controlplane_ws_call_latency_seconds_bucket" in body
    assert 'controlplane_ws_inflight{name="",scope="global"} 0.0' in body
    assert "controlplane_ws_sessions 1.0" in body
