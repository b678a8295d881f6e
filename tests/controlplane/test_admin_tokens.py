"""Token admin: tokens shown once and stored hashed, status listed, revocable."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from bus.models import Provider, Tool
from controlplane.asgi import application
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke, token_hash
from tests.bus.conftest import result_json, store_message

pytestmark = pytest.mark.django_db(transaction=True)

LIST_URL = reverse("admin:controlplane_agenttoken_changelist")
ADD_URL = reverse("admin:controlplane_agenttoken_add")
UNAUTHORIZED_CLOSE_CODE = 4003


def _create_token(client, name: str = "ops-agent") -> str:
    response = client.post(
        ADD_URL, {"name": name, "expires_at_0": "", "expires_at_1": ""}
    )
    assert response.status_code == 200
    match = re.search(r'<code id="agent-token"[^>]*>([^<]+)</code>', response.text)
    assert match, response.text
    return match.group(1)


async def _hello(token: str) -> tuple[dict, WebsocketCommunicator]:
    """Open a connection to the gateway and answer its hello."""
    communicator = WebsocketCommunicator(application, "/ws/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data=json.dumps({"op": "hello", "token": token}))
    return await communicator.receive_json_from(timeout=3), communicator


def test_agent_token_admin__token_shown_once_and_stored_hashed(
    admin_client_logged_in,
) -> None:
    raw = _create_token(admin_client_logged_in)
    row = AgentToken.objects.get(name="ops-agent")
    assert row.token_hash == token_hash(raw) and raw not in row.token_hash
    change = admin_client_logged_in.get(
        reverse("admin:controlplane_agenttoken_change", args=[row.pk])
    )
    listing = admin_client_logged_in.get(LIST_URL)
    assert change.status_code == 200 and listing.status_code == 200
    assert raw not in change.text and raw not in listing.text
    assert row.token_hash not in change.text


def test_agent_token_admin__allowed_tools_are_saved(admin_client_logged_in) -> None:
    provider, _ = Provider.objects.get_or_create(name="builtin")
    Tool.objects.get_or_create(
        name="echo", defaults={"target": "bus.tools.builtin.echo", "provider": provider}
    )
    admin_client_logged_in.post(ADD_URL, {"name": "narrow", "allowed_tools": ["echo"]})
    assert AgentToken.objects.get(name="narrow").allowed_tools == ["echo"]


def test_agent_token_admin__list_shows_each_status(admin_client_logged_in) -> None:
    agent_token_create(name="fresh")
    agent_token_create(name="old", expires_at=timezone.now() - timedelta(minutes=1))
    revoked, _ = agent_token_create(name="gone")
    agent_token_revoke(agent=revoked)
    page = admin_client_logged_in.get(LIST_URL)
    assert page.status_code == 200
    statuses = dict(
        re.findall(
            r'<a href="[^"]+">([a-z]+)</a></th>(?:(?!</tr>).)*?'
            r'<td class="field-status_shown"><span class="token-status token-\w+">'
            r"(\w+)<",
            page.text,
        )
    )
    assert statuses == {"fresh": "active", "old": "expired", "gone": "revoked"}


async def test_agent_token_admin__revoked_token_fails_hello(
    admin_client_logged_in,
) -> None:
    raw = await database_sync_to_async(_create_token)(admin_client_logged_in)
    row = await AgentToken.objects.aget(name="ops-agent")
    ack, ok = await _hello(raw)
    assert ack["ok"] is True
    await ok.disconnect()
    response = await database_sync_to_async(admin_client_logged_in.post)(
        LIST_URL, {"action": "revoke", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    ack, refused = await _hello(raw)
    assert ack == {"op": "hello_ack", "ok": False, "error": "unauthorized"}
    assert (await refused.receive_output())["code"] == UNAUTHORIZED_CLOSE_CODE
    await refused.disconnect()


def test_agent_token_admin__status_filter(admin_client_logged_in) -> None:
    agent_token_create(name="fresh")
    agent_token_create(name="old", expires_at=timezone.now() - timedelta(minutes=1))
    revoked, _ = agent_token_create(name="gone")
    agent_token_revoke(agent=revoked)
    shown = {}
    for status in ("active", "revoked", "expired"):
        page = admin_client_logged_in.get(f"{LIST_URL}?status={status}").text
        shown[status] = {
            name for name in ("fresh", "old", "gone") if f">{name}</a></th>" in page
        }
    assert shown == {"active": {"fresh"}, "revoked": {"gone"}, "expired": {"old"}}


def test_agent_token_admin__identifier_at_creation_in_list_and_search(
    admin_client_logged_in,
) -> None:
    raw = _create_token(admin_client_logged_in, "first")
    created = admin_client_logged_in.post(ADD_URL, {"name": "second"}).text
    first = AgentToken.objects.get(name="first")
    second = AgentToken.objects.get(name="second")
    assert first.token_id == token_hash(raw)[:8] != second.token_id
    assert f'<code id="token-id">{second.token_id}</code>' in created
    listing = admin_client_logged_in.get(LIST_URL).text
    assert first.token_id in listing and second.token_id in listing
    found = admin_client_logged_in.get(f"{LIST_URL}?q={first.token_id}").text
    assert ">first</a></th>" in found and ">second</a></th>" not in found


def test_agent_token_admin__add_form_has_no_empty_read_only_fields(
    admin_client_logged_in,
) -> None:
    page = admin_client_logged_in.get(ADD_URL).text
    for field in ("created_at", "created_by", "last_used_at", "revoked_at"):
        assert f"field-{field}" not in page
    assert 'name="name"' in page
    row = agent_token_create(name="later")[0]
    change = admin_client_logged_in.get(
        reverse("admin:controlplane_agenttoken_change", args=[row.pk])
    ).text
    assert "field-created_at" in change and row.token_id in change


def test_agent_token_admin__links_the_agents_bus_messages(
    admin_client_logged_in,
) -> None:
    row = agent_token_create(name="busy")[0]
    agent_token_create(name="idle")
    store_message(row, result_json(5000))
    store_message(row, result_json(5000))
    listing = admin_client_logged_in.get(LIST_URL).text
    url = reverse("admin:bus_message_changelist") + f"?agent__id__exact={row.pk}"
    assert f'<a href="{url}">2 messages</a>' in listing
    messages = admin_client_logged_in.get(url)
    assert messages.status_code == 200 and "2 messages" in messages.text
