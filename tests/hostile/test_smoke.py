"""The hostile-client harness itself: a real server answers real sockets."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_control_plane__answers_a_raw_client(control_plane, agent) -> None:
    server = control_plane()

    async def hello() -> dict:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            await ws.send(json.dumps({"op": "hello", "token": agent[1]}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(hello())["ok"] is True
