"""Admin: tools validated, live capacity, metrics."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from bus.gateway.worker import worker_id
from bus.models import Provider, Tool

pytestmark = pytest.mark.django_db(transaction=True)


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
    worker = f'worker="{worker_id()}"'
    assert f'controlplane_ws_calls_total{{outcome="ok",tool="echo",{worker}}}' in body
    assert "controlplane_ws_call_latency_seconds_bucket" in body
    assert f'controlplane_ws_inflight{{name="",scope="global",{worker}}} 0.0' in body
    assert f"controlplane_ws_sessions{{{worker}}} 1.0" in body
