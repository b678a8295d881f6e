"""dashboard_state: the admin home's figures from the rows that hold them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bus.models import CallRecord, McpUpstream, Message, Provider
from controlplane.dashboard import CHART_MINUTES, dashboard_state
from tests.bus.conftest import store_message

pytestmark = pytest.mark.django_db


# Half past a minute: records a few seconds either side stay in their minute.
NOW = timezone.now().replace(second=30, microsecond=0)


def _call(minutes_ago: float, outcome: str = "ok") -> None:
    CallRecord.objects.create(
        created_at=NOW - timedelta(minutes=minutes_ago),
        transport=CallRecord.Transport.WEBSOCKET,
        tool_name="echo",
        outcome=outcome,
        latency_ms=1.0,
        result_bytes=10,
    )


def test_dashboard_state__calls_per_minute_and_error_rate_of_the_last_hour(agent):
    for _ in range(3):
        _call(0)
    _call(0, "TIMEOUT")
    _call(5, "EXEC_ERROR")
    _call(90)  # before the hour: not counted
    state = dashboard_state(now=NOW)
    hour = state.last_hour
    assert (hour.calls, hour.errors, hour.peak) == (5, 2, 4)
    assert hour.error_percent == 40.0
    assert len(hour.minutes) == len(state.chart.columns) == CHART_MINUTES
    assert (hour.minutes[-1].calls, hour.minutes[-1].errors) == (4, 1)
    assert (hour.minutes[-6].calls, hour.minutes[-6].errors) == (1, 1)
    assert state.chart.columns[-1].part == 1


def test_dashboard_state__bus_rows_bytes_and_the_next_live_expiry(agent):
    soon = store_message(agent[0], b'{"outputs":[]}')
    gone = store_message(agent[0], b'{"outputs":[{"type":"text","text":"x"}]}')
    Message.objects.filter(transaction_id=gone.transaction_id).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    bus = dashboard_state().bus
    assert (bus.rows, bus.expired_rows) == (2, 1)
    assert bus.payload_bytes == sum(
        Message.objects.values_list("payload_size_bytes", flat=True)
    )
    live = Message.objects.get(transaction_id=soon.transaction_id)
    assert bus.next_expiry == live.expires_at


def test_dashboard_state__limits_against_configuration():
    state = dashboard_state()
    scopes = {limit.scope: limit for limit in state.limits}
    assert scopes["global"].limit == 24 and scopes["session"].limit == 8
    assert scopes["global"].percent == 0
    assert state.last_audit is None and state.breaker == "closed"


def test_dashboard__shows_each_enabled_upstream_mcp_server_and_why_it_is_down(
    admin_client,
):
    provider = Provider.objects.create(name="search-api")
    McpUpstream.objects.create(
        name="search",
        prefix="search",
        transport=McpUpstream.Transport.HTTP,
        url="http://127.0.0.1:9/mcp",
        provider=provider,
        status=McpUpstream.Status.DOWN,
        last_down_at=timezone.now(),
        last_error="connection refused",
    )
    McpUpstream.objects.create(
        name="files",
        prefix="files",
        transport=McpUpstream.Transport.STDIO,
        command="files-server",
        provider=provider,
        status=McpUpstream.Status.UP,
        last_up_at=timezone.now(),
    )
    McpUpstream.objects.create(
        name="retired",
        prefix="retired",
        transport=McpUpstream.Transport.STDIO,
        command="old-server",
        provider=provider,
        enabled=False,
    )
    assert [u.name for u in dashboard_state().upstreams] == ["files", "search"]
    page = admin_client.get("/admin/dashboard/").content.decode()
    assert 'data-upstream="search"' in page and "connection refused" in page
    assert 'data-status="up"' in page and 'data-status="down"' in page
    assert "retired" not in page
