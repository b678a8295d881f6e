"""Token admin: tokens shown once and stored hashed, status listed, revocable."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from bus.models import Provider, Tool
from controlplane.asgi import application
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke, token_hash

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
            r'<a href="[^"]+">([a-z]+)</a></th><td class="field-status">(\w+)<',
            page.text,
        )
    )
    assert statuses == {"fresh": "active", "old": "expired", "gone": "revoked"}


async def test_agent_token_admin__revoked_token_fails_hello(
    admin_client_logged_in,
) -> None:
    raw = await sync_to_async(_create_token)(admin_client_logged_in)
    row = await AgentToken.objects.aget(name="ops-agent")
    ack, ok = await _hello(raw)
    assert ack["ok"] is True
    await ok.disconnect()
    response = await sync_to_async(admin_client_logged_in.post)(
        LIST_URL, {"action": "revoke", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    ack, refused = await _hello(raw)
    assert ack == {"op": "hello_ack", "ok": False, "error": "unauthorized"}
    assert (await refused.receive_output())["code"] == UNAUTHORIZED_CLOSE_CODE
    await refused.disconnect()
