"""The call records admin: read-only list, filters, search, links and detail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bus.models import CallRecord, Message
from tests.bus.conftest import store_message

pytestmark = pytest.mark.django_db

URL = "/admin/bus/callrecord/"


def _record(agent, request_id: str, outcome: str = "ok", **fields) -> CallRecord:
    values = {
        "created_at": timezone.now(),
        "agent": agent,
        "agent_name": agent.name if agent else "gone",
        "transport": CallRecord.Transport.WEBSOCKET,
        "tool_name": "echo",
        "provider_name": "builtin",
        "request_id": request_id,
        "outcome": outcome,
        "latency_ms": 12.5,
        "result_bytes": 3 * 1024 * 1024,
        **fields,
    }
    return CallRecord.objects.create(**values)


def test_call_admin__list_links_token_and_bus_message(
    admin_client_logged_in, agent, other_agent
) -> None:
    stored = store_message(agent[0], b'{"outputs":[]}')
    message = Message.objects.get(transaction_id=stored.transaction_id)
    _record(agent[0], "r-bus", transaction_id=stored.transaction_id)
    _record(other_agent[0], "r-fail", "EXEC_ERROR", error_message="boom")
    page = admin_client_logged_in.get(URL).content.decode()
    assert f'href="/admin/controlplane/agenttoken/{agent[0].pk}/change/"' in page
    assert f'href="/admin/bus/message/{message.pk}/change/"' in page
    assert "3 MiB" in page and "12.5 ms" in page
    assert "Add call record" not in page


def test_call_admin__filters_and_search(
    admin_client_logged_in, agent, other_agent, builtin_tools
) -> None:
    _record(agent[0], "r-1")
    _record(agent[0], "r-old", created_at=timezone.now() - timedelta(days=2))
    _record(other_agent[0], "r-2", "TIMEOUT", tool_name="sleep")

    def shown(query: str) -> set[str]:
        response = admin_client_logged_in.get(URL + query)
        assert response.status_code == 200
        return {record.request_id for record in response.context["cl"].result_list}

    assert shown(f"?agent__id__exact={agent[0].pk}") == {"r-1", "r-old"}
    _record(agent[0], "r-unknown", "TOOL_NOT_FOUND", tool_name="nope", provider_name="")
    assert shown("?tool=sleep") == {"r-2"}
    assert shown("?tool=(unknown)") == {"r-unknown"}
    assert shown("?result=error") == {"r-2", "r-unknown"}
    assert shown("?outcome=TIMEOUT") == {"r-2"}
    assert shown("?since=24h") == {"r-1", "r-2", "r-unknown"}
    assert shown("?q=r-old") == {"r-old"}


def test_call_admin__detail_is_read_only(admin_client_logged_in, agent) -> None:
    record = _record(
        agent[0], "r-detail", "EXEC_ERROR", error_message="it broke", session_id="s-9"
    )
    page = admin_client_logged_in.get(f"{URL}{record.pk}/change/").content.decode()
    assert "it broke" in page and "r-detail" in page
    assert f'href="{URL}?q=s-9"' in page
    assert 'name="_save"' not in page
    response = admin_client_logged_in.post(f"{URL}{record.pk}/change/", {})
    assert response.status_code == 403


def test_token_admin__links_the_agents_calls(admin_client_logged_in, agent) -> None:
    page = admin_client_logged_in.get("/admin/controlplane/agenttoken/")
    link = f'href="{URL}?agent__id__exact={agent[0].pk}"'
    assert link in page.content.decode()
