"""Raw WebSocket clients for the worker tests."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

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


def admin_client(base_url: str, username: str, password: str) -> httpx.Client:
    """Return an HTTP client logged in to a real server's admin as staff."""
    http = httpx.Client(base_url=base_url, timeout=RECEIVE_TIMEOUT_SECS)
    form = http.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text
    answer = http.post(
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": password,
        },
    )
    assert answer.status_code == 302, answer.text
    return http
