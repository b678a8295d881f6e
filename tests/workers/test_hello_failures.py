"""Two real `serve` processes on one Redis count an address's failed hellos once
for the deployment: the limit is WS_AUTH_FAILURES_PER_MINUTE, not that per worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect as ws_connect

from bus.gateway.state.hello_failures import PREFIX
from tests.servers import REDIS_URL, Server, free_port, needs_redis, redis_keys_cleared

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    needs_redis,
]

LIMIT = 3
RECEIVE_TIMEOUT_SECS = 10


@pytest.fixture
def shared_failures() -> Iterator[dict[str, str]]:
    """The servers' environment; failed-hello keys cleared around it."""
    with redis_keys_cleared(REDIS_URL, PREFIX):
        yield {"REDIS_URL": REDIS_URL, "WS_AUTH_FAILURES_PER_MINUTE": str(LIMIT)}


async def _hello(server: Server, token: str) -> dict[str, object]:
    async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
        await ws.send(json.dumps({"op": "hello", "token": token}))
        return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))


def test_two_workers__count_an_addresss_failed_hellos_together(
    tmp_path, builtin_tools, agent, shared_failures
) -> None:
    one, two = (
        Server(tmp_path / name, free_port(), **shared_failures)
        for name in ("one", "two")
    )
    for server in (one, two):
        server.health.parent.mkdir(parents=True)
        server.start()

    async def scenario() -> None:
        for server in (one, two, one):
            assert (await _hello(server, "wrong"))["error"] == "unauthorized"
        # The third failure was the limit's: the valid token is refused on both.
        for server in (two, one):
            assert (await _hello(server, agent[1]))["error"] == "rate_limited"

    try:
        asyncio.run(scenario())
    finally:
        for server in (one, two):
            server.stop()
