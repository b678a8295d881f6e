"""A real `serve` keeps its database connections (CONN_MAX_AGE by default); when
the database cuts them (a restart, a failover: here pg_terminate_backend), the
next hello, call and bus fetch succeed at once, each thread's connection
checked and reopened before use, instead of failing once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import connection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import backends_terminate, shared_thread_connections_close
from tests.workers.clients import frames_of, hello, is_result, receive, send_call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THRESHOLD_BYTES = 64 * 1024
# Calls before and after the cut: sequential calls reuse an idle worker thread.
THREAD_CALLS = 5


@pytest.fixture
def cut_connections(transactional_db: None) -> Iterator[Callable[[], int]]:
    """Terminate the test database's backends; this thread's own is reopened after."""
    yield backends_terminate
    # The teardown (flush) runs on this thread's connection, cut too.
    connection.close()
    shared_thread_connections_close()


def _server_backends() -> int:
    """Return how many connections to the test database are not this process's."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


async def _stored_and_fetched(ws: Any, request_id: str) -> None:
    """A result over the threshold goes to the bus and is fetched back whole."""
    await send_call(ws, "generate", request_id, {"bytes": 2 * THRESHOLD_BYTES})
    result = (await frames_of(ws, request_id, is_result))[-1]
    assert "bus" in result, result  # not the breaker's inline fallback
    txn = result["bus"]["transaction_id"]
    await ws.send(json.dumps({"op": "bus_fetch", "transaction_id": txn}))
    pieces = []
    while (frame := json.loads(await ws.recv()))["op"] == "bus_chunk":
        pieces.append(base64.b64decode(frame["data"]))
    assert frame["op"] == "bus_fetch_res", frame
    payload = b"".join(pieces)
    assert frame["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()


def test_serve__cut_database_connections_are_reopened_without_a_failure(
    control_plane, agent
) -> None:
    server = control_plane(MESSAGE_BUS_THRESHOLD_BYTES=str(THRESHOLD_BYTES))
    token = agent[1]

    async def before() -> None:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            assert (await hello(ws, token))["ok"] is True
            await _stored_and_fetched(ws, "before")

    asyncio.run(before())
    kept = _server_backends()
    assert kept > 0, "the server closed its connections: nothing to cut"
    own = connection.connection.info.backend_pid
    assert backends_terminate(keep=frozenset({own})) >= kept

    async def after() -> dict[str, Any]:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            ack = await hello(ws, token)
            assert ack["ok"] is True, ack  # the first hello after the cut
            await _stored_and_fetched(ws, "after")
            await ws.send(json.dumps({"op": "health"}))
            return (await receive(ws, "health_res"))["health"]

    health = asyncio.run(after())
    assert health["bus"]["breaker"] == "closed", health
    log = server.log.read_text()
    assert "database unavailable" not in log, log
    assert "Traceback" not in log, log


def test_backends_terminate__a_kept_connection_fails_like_in_an_outage() -> None:
    """The harness's cut is real: a kept, unchecked connection's next query fails."""
    connection.ensure_connection()
    own = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as kept:
        kept.execute("SELECT 1")
        backends_terminate(keep=frozenset({own}))
        with pytest.raises(psycopg.OperationalError):
            kept.execute("SELECT 1")


async def test_python_tool__sync_tool_using_the_orm_survives_a_cut(
    connect, agent, make_tool, cut_connections
) -> None:
    """A sync tool's worker thread keeps its connection; a cut one is reopened."""
    await database_sync_to_async(make_tool)(
        "agents", "tests.bus.sample_tools.agent_count", idempotent=False
    )
    client = await connect(agent[1])
    for n in range(THREAD_CALLS):
        result = (await client.call("agents", request_id=f"before-{n}"))[-1]
        assert result["outputs"][0]["text"] == "1", result
    assert await asyncio.to_thread(cut_connections) > 0
    for n in range(THREAD_CALLS):
        result = (await client.call("agents", request_id=f"after-{n}"))[-1]
        assert result["outputs"][0]["text"] == "1", result
