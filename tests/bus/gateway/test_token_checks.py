"""Hello token checks batched while one runs, through a real database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DatabaseError

from bus.gateway.token_checks import TokenChecks
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_tokens_use

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECS = 10


class GatedCheck:
    """agent_tokens_use that records each batch and holds the first until opened."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.entered, self.gate = threading.Event(), threading.Event()

    def __call__(self, tokens: Sequence[str]) -> list[AgentToken | None]:
        self.batches.append(len(tokens))
        self.entered.set()
        assert self.gate.wait(WAIT_SECS)
        return agent_tokens_use(tokens)


async def _tokens(count: int) -> list[str]:
    return [
        (await database_sync_to_async(agent_token_create)(name=f"agent-{n}"))[1]
        for n in range(count)
    ]


async def test_token_checks__hellos_waiting_meanwhile_share_the_next_batch() -> None:
    tokens = await _tokens(4)
    check = GatedCheck()
    checks = TokenChecks(check)
    first = asyncio.create_task(checks.use(tokens[0]))
    assert await asyncio.to_thread(check.entered.wait, WAIT_SECS)
    others = [asyncio.create_task(checks.use(t)) for t in [*tokens[1:], "unknown"]]
    await asyncio.sleep(0)
    check.gate.set()
    rows = await asyncio.gather(first, *others)
    assert check.batches == [1, 4]
    assert [row.name if row else None for row in rows] == [
        "agent-0",
        "agent-1",
        "agent-2",
        "agent-3",
        None,
    ]
    used = await database_sync_to_async(list)(
        AgentToken.objects.filter(last_used_at__isnull=False).values_list(
            "name", flat=True
        )
    )
    assert sorted(used) == ["agent-0", "agent-1", "agent-2", "agent-3"]


async def test_token_checks__a_waiter_that_left_does_not_fail_the_others() -> None:
    tokens = await _tokens(2)
    check = GatedCheck()
    checks = TokenChecks(check)
    leaving = asyncio.create_task(checks.use(tokens[0]))
    staying = asyncio.create_task(checks.use(tokens[1]))
    assert await asyncio.to_thread(check.entered.wait, WAIT_SECS)
    leaving.cancel()
    check.gate.set()
    assert (await staying).name == "agent-1"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_token_checks__database_down_fails_each_waiter_then_recovers(
    database_down,
) -> None:
    """Every hello of a batch that cannot reach the database gets the error."""
    tokens = await _tokens(3)
    checks = TokenChecks()
    assert (await checks.use(tokens[0])).name == "agent-0"  # a connection is kept
    with database_down:
        results = await asyncio.gather(
            *(checks.use(t) for t in tokens), return_exceptions=True
        )
        assert all(isinstance(r, DatabaseError) for r in results), results
    assert (await checks.use(tokens[2])).name == "agent-2"


async def test_hello__a_storm_of_hellos_is_answered_and_recorded(
    ws_application,
) -> None:
    tokens = await _tokens(3)
    clients = [WebsocketCommunicator(ws_application, "/ws/") for _ in range(30)]
    for n, comm in enumerate(clients):
        assert (await comm.connect())[0]
        await comm.send_to(
            text_data=json.dumps({"op": "hello", "token": tokens[n % 3]})
        )
    acks = [await comm.receive_json_from(timeout=WAIT_SECS) for comm in clients]
    for comm in clients:
        await comm.disconnect()
    assert all(ack["op"] == "hello_ack" and ack["ok"] for ack in acks), acks
    assert len({ack["session_id"] for ack in acks}) == 30
    unused = await database_sync_to_async(
        AgentToken.objects.filter(last_used_at__isnull=True).count
    )()
    assert unused == 0
