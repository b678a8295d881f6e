"""/health/ has one check per upstream, `mcp_upstream:<name>`.

A `serve` process reports its own sessions (tests/bus/gateway/upstreams/
test_serve_upstreams.py); these are the pages of a process without a pool.
"""

from __future__ import annotations

import datetime

import pytest

from bus.models import McpUpstream, Provider


def _upstream(name: str, **fields: object) -> McpUpstream:
    provider, _ = Provider.objects.get_or_create(name="p")
    return McpUpstream.objects.create(
        name=name,
        prefix=name,
        transport=McpUpstream.Transport.HTTP,
        url=f"http://127.0.0.1:9/{name}",
        provider=provider,
        **fields,
    )


@pytest.mark.django_db
def test_health__one_check_per_enabled_upstream_with_its_recorded_status(client):
    down_at = datetime.datetime(2026, 12, 1, 8, 30, tzinfo=datetime.UTC)
    _upstream("fine", status=McpUpstream.Status.UP)
    _upstream(
        "broken",
        status=McpUpstream.Status.DOWN,
        last_down_at=down_at,
        last_error="ConnectError: All connection attempts failed",
    )
    _upstream("new")
    _upstream("off", enabled=False, status=McpUpstream.Status.DOWN)
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    body = response.json()
    assert body["mcp_upstream:fine"] == "OK"
    assert body["mcp_upstream:broken"] == (
        "Warning: upstream broken down since 2026-12-01 08:30:00Z: "
        "ConnectError: All connection attempts failed"
    )
    assert "not connected yet" in body["mcp_upstream:new"]
    assert "mcp_upstream:off" not in body
    # Down upstreams are warnings: the control plane itself still serves.
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_health__answers_while_the_database_is_down(client, database_down):
    _upstream("fine", status=McpUpstream.Status.UP)
    with database_down:
        response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
    assert not any(name.startswith("mcp_upstream:") for name in response.json())
