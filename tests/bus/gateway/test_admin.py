"""Admin: tools validated, live capacity, metrics."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client
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


async def test_capacity_page__shows_limits_calls_sessions_and_rejections(
    admin_client_logged_in, connect_to_process, agent, ws_config
) -> None:
    ws_config(WS_SESSION_MAX_INFLIGHT=1, WS_GLOBAL_MAX_INFLIGHT=4)
    client = await connect_to_process(agent[1])
    await client.start("sleep", {"seconds": 5}, request_id="a")
    rejected = await client.call("sleep", {"seconds": 0.2}, request_id="b")
    assert rejected[-1]["error"]["scope"] == "session"
    page = await database_sync_to_async(admin_client_logged_in.get)(
        reverse("admin:bus_capacity")
    )
    text = page.text
    assert "One server process (no REDIS_URL)" in text
    scopes = _table(text, "capacity-scopes")
    assert "1 / 4" in scopes and "25%" in scopes
    calls = _table(text, "capacity-calls")
    assert "<td>agent-one</td><td>sleep</td><td>builtin</td>" in calls
    assert "<code>a</code>" in calls and worker_id() in calls
    assert "0 s" in calls or "1 s" in calls
    sessions = _table(text, "capacity-sessions")
    assert client.hello_ack["session_id"] in sessions
    assert 'class="cap-full"' in sessions and "1 / 1" in sessions
    rejections = _table(text, "capacity-rejections")
    assert "<td>agent-one</td><td>sleep</td>" in rejections
    assert "<td>session</td>" in rejections
    workers = _table(text, "capacity-workers")
    assert worker_id() in workers and "(this page)" in workers
    await _cancel_from_page(admin_client_logged_in, f"a{agent[0].pk}", "a")
    frames = await client.until_result("a")
    assert frames[-1]["error"] == {
        "code": "CANCELLED",
        "message": "cancelled by an operator",
    }


async def test_capacity_cancel__needs_post_and_permission(
    django_user_model, connect_to_process, agent, admin_client_logged_in
) -> None:
    ws = await connect_to_process(agent[1])
    await ws.start("sleep", {"seconds": 5}, request_id="kept")
    url = reverse("admin:bus_capacity_cancel")
    assert (
        await database_sync_to_async(admin_client_logged_in.get)(url)
    ).status_code == 405
    viewer = await database_sync_to_async(django_user_model.objects.create_user)(
        username="viewer", password="viewer-pass-123", is_staff=True
    )
    other = Client()
    await database_sync_to_async(other.force_login)(viewer)
    refused = await database_sync_to_async(other.post)(
        url, {"agent_key": f"a{agent[0].pk}", "request_id": "kept"}
    )
    assert refused.status_code == 403
    page = await database_sync_to_async(admin_client_logged_in.get)(
        reverse("admin:bus_capacity")
    )
    assert "<code>kept</code>" in _table(page.text, "capacity-calls")
    gone = await _cancel_from_page(admin_client_logged_in, f"a{agent[0].pk}", "nothing")
    assert "is no longer in flight" in gone


def _table(text: str, table_id: str) -> str:
    return text.split(f'id="{table_id}"')[1].split("</table>")[0]


async def _cancel_from_page(client, agent_key: str, request_id: str) -> str:
    response = await database_sync_to_async(client.post)(
        reverse("admin:bus_capacity_cancel"),
        {"agent_key": agent_key, "request_id": request_id, "agent": "agent-one"},
        follow=True,
    )
    assert response.status_code == 200
    return response.text


async def test_metrics__prometheus_counts_calls(
    admin_client_logged_in, connect_to_process, agent
) -> None:
    client = await connect_to_process(agent[1])
    await client.call("echo", {"text": "m"})
    response = await database_sync_to_async(admin_client_logged_in.get)("/metrics")
    assert response.status_code == 200
    body = response.text
    worker = f'worker="{worker_id()}"'
    assert f'controlplane_ws_calls_total{{outcome="ok",tool="echo",{worker}}}' in body
    assert "controlplane_ws_call_latency_seconds_bucket" in body
    assert f'controlplane_ws_inflight{{name="",scope="global",{worker}}} 0.0' in body
    assert f"controlplane_ws_sessions{{{worker}}} 1.0" in body
