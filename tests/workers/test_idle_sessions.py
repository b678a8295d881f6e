"""Idle and waiting sessions stay open on a server that has Redis configured."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.workers.clients import hello, receive

REDIS_URL = os.environ.get("REDIS_TEST_URL", "")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_TEST_URL (make test)"),
]

# Longer than twice the 5 s poll the channel layer's Redis reads used to time
# out on, so each connection would have been cut at least once.
HOLD_SECS = 12
IDLE_SESSIONS = 3
WAITING_SESSIONS = 3


def test_serve_with_redis__idle_and_waiting_sessions_stay_open(
    control_plane, agent
) -> None:
    server = control_plane(REDIS_URL=REDIS_URL, WS_CALL_TIMEOUT_SECS="60")
    url = f"ws://127.0.0.1:{server.port}/ws/"

    async def scenario() -> list[int | None]:
        opened = [
            await ws_connect(url, close_timeout=1)
            for _ in range(IDLE_SESSIONS + WAITING_SESSIONS)
        ]
        for ws in opened:
            assert (await hello(ws, agent[1]))["ok"] is True
        for number, ws in enumerate(opened[IDLE_SESSIONS:]):
            await ws.send(
                json.dumps(
                    {
                        "op": "call_tool",
                        "name": "sleep",
                        "request_id": f"wait-{uuid.uuid4().hex}",
                        # Distinct arguments: identical ones would be DUPLICATE.
                        "arguments": {"seconds": HOLD_SECS + 10 + number},
                    }
                )
            )
            await receive(ws, "call_tool_ack")
        await asyncio.sleep(HOLD_SECS)
        closes = [ws.close_code for ws in opened]
        await asyncio.gather(*(ws.close() for ws in opened))
        return closes

    assert asyncio.run(scenario()) == [None] * (IDLE_SESSIONS + WAITING_SESSIONS)
