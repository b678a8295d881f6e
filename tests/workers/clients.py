"""Raw WebSocket clients for the worker tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

RECEIVE_TIMEOUT_SECS = 10


async def receive(ws: Any, op: str) -> dict[str, Any]:
    """Return the next frame of the given op, skipping others."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
        if frame["op"] == op:
            return frame


async def hello(ws: Any, token: str) -> dict[str, Any]:
    """Open the session and return the hello_ack."""
    await ws.send(json.dumps({"op": "hello", "token": token}))
    return await receive(ws, "hello_ack")


async def health(ws: Any) -> dict[str, Any]:
    """Return the health op's snapshot."""
    await ws.send(json.dumps({"op": "health"}))
    return (await receive(ws, "health_res"))["health"]
