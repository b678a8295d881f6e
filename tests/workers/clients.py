"""Raw WebSocket clients for the worker tests."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

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


async def open_session(port: int, token: str) -> ClientConnection:
    """Connect to a server and open an authenticated session."""
    ws = await ws_connect(f"ws://127.0.0.1:{port}/ws/")
    assert (await hello(ws, token))["ok"] is True
    return ws


async def send_call(
    ws: Any, name: str, request_id: str, arguments: dict[str, Any]
) -> None:
    """Send one call_tool frame."""
    frame = {"op": "call_tool", "name": name, "request_id": request_id}
    await ws.send(json.dumps({**frame, "arguments": arguments}))


async def frames_of(
    ws: Any, request_id: str, until: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Return one request's frames, up to the first that `until` accepts;
    frames of other requests are dropped."""
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS))
        if frame.get("request_id") != request_id:
            continue
        frames.append(frame)
        if until(frame):
            return frames


def is_result(frame: dict[str, Any]) -> bool:
    """Return whether a frame is a call's one result."""
    return frame["op"] == "call_tool_res"


def is_first_reply(frame: dict[str, Any]) -> bool:
    """Return whether a frame is a call's acceptance or its at-once answer."""
    return frame["op"] in ("call_tool_ack", "call_tool_res")


async def accepted(ws: Any, request_id: str) -> None:
    """Wait for a call's first reply and check that it was accepted."""
    reply = (await frames_of(ws, request_id, is_first_reply))[-1]
    assert reply["op"] == "call_tool_ack", reply


def error_of(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the error of the result that ends `frames`."""
    assert is_result(frames[-1]) and "error" in frames[-1], frames[-1]
    return frames[-1]["error"]


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
