"""Open sessions end when their token is revoked or expires, checked on real rows."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from bus.gateway.events import Progress
from bus.gateway.sessions import ANONYMOUS, Agent, Session
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


class Connection:
    """An in-memory transport that remembers how it was closed."""

    name = "memory"

    def __init__(self) -> None:
        self.closed_with: int | None = None
        self.events: list = []

    async def deliver(self, event) -> int:
        self.events.append(event)
        return 1

    async def close(self, code: int) -> None:
        self.closed_with = code


def _open(gateway, row: AgentToken | None) -> tuple[Session, Connection]:
    agent = Agent(key=f"a{row.pk}", id=row.pk, name=row.name) if row else ANONYMOUS
    connection = Connection()
    session = gateway.open_session(agent=agent, transport=connection, token_hash=None)
    return session, connection


async def test_revocation__closes_the_sessions_of_a_revoked_token_with_4003(
    gateway, agent, other_agent, caplog
) -> None:
    revoked, other = agent[0], other_agent[0]
    first, first_conn = _open(gateway, revoked)
    _, second_conn = _open(gateway, revoked)
    _, other_conn = _open(gateway, other)
    await database_sync_to_async(agent_token_revoke)(agent=revoked)
    with caplog.at_level(logging.INFO, logger="bus.gateway.revocation"):
        assert await gateway.revocations.check() == 2
    assert first_conn.closed_with == second_conn.closed_with == 4003
    assert other_conn.closed_with is None
    assert f"Closing session {first.session_id} of agent agent-one" in caplog.text
    # Closed for the pipeline at once: no event reaches it any more, and the
    # next check does not close it a second time.
    assert await first.deliver(Progress("r-1", "sleep", 1.0)) == 0
    assert first_conn.events == []
    assert await gateway.revocations.check() == 0


async def test_revocation__closes_expired_and_deleted_tokens(gateway, agent) -> None:
    expired, _ = await database_sync_to_async(AgentToken.objects.get_or_create)(
        name="expired", token_hash="e" * 64
    )
    deleted, _ = await database_sync_to_async(AgentToken.objects.get_or_create)(
        name="deleted", token_hash="d" * 64
    )
    _, expired_conn = _open(gateway, expired)
    _, deleted_conn = _open(gateway, deleted)
    _, active_conn = _open(gateway, agent[0])
    await AgentToken.objects.filter(pk=expired.pk).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    await AgentToken.objects.filter(pk=deleted.pk).adelete()
    assert await gateway.revocations.check() == 2
    assert expired_conn.closed_with == deleted_conn.closed_with == 4003
    assert active_conn.closed_with is None


async def test_revocation__never_closes_anonymous_sessions(gateway, ws_config) -> None:
    ws_config(WS_AUTH_REQUIRED=False)
    _, connection = _open(gateway, None)
    assert await gateway.revocations.check() == 0
    assert connection.closed_with is None


async def test_revocation__a_database_outage_closes_nobody(
    gateway, agent, database_down, caplog
) -> None:
    _, connection = _open(gateway, agent[0])
    await database_sync_to_async(agent_token_revoke)(agent=agent[0])
    with database_down, caplog.at_level(logging.WARNING):
        assert await gateway.revocations.check() == 0
    assert connection.closed_with is None
    assert (
        "Cannot check the tokens of 1 open session(s): database unavailable"
        in caplog.text
    )
    # The first check after the outage ends what was revoked meanwhile.
    assert await gateway.revocations.check() == 1
    assert connection.closed_with == 4003


async def test_revocation__runs_from_the_first_session_to_the_last(
    gateway, agent
) -> None:
    assert gateway.revocations.task is None
    first, _ = _open(gateway, agent[0])
    second, _ = _open(gateway, agent[0])
    task = gateway.revocations.task
    assert task is not None and not task.done()
    await gateway.close_session(first)
    assert gateway.revocations.task is task
    await gateway.close_session(second)
    assert gateway.revocations.task is None


async def test_revocation__closes_a_websocket_and_ignores_its_later_frames(
    ws_application, gateway, agent
) -> None:
    comm = WebsocketCommunicator(ws_application, "/ws/")
    await comm.connect()
    await comm.send_json_to({"op": "hello", "token": agent[1]})
    assert (await comm.receive_json_from())["ok"] is True
    await database_sync_to_async(agent_token_revoke)(agent=agent[0])
    assert await gateway.revocations.check() == 1
    assert await comm.receive_output() == {"type": "websocket.close", "code": 4003}
    await comm.send_json_to({"op": "list_tools"})
    assert await comm.receive_nothing()
    await comm.disconnect()


async def test_revocation__the_session_that_rotated_its_token_stays_open(
    connect, gateway, agent
) -> None:
    client = await connect(agent[1])
    new = "n3w-rotated-token-abcdefghijklmnopqrstuvwxyz"
    await client.send({"op": "rotate_token", "old": agent[1], "new": new})
    assert await client.receive() == {"op": "rotate_token_res", "ok": True}
    assert await gateway.revocations.check() == 0
    await client.send({"op": "list_tools"})
    assert (await client.receive())["op"] == "list_tools_res"
