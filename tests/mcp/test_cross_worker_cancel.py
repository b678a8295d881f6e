"""A `notifications/cancelled` that lands on another worker than the one running
the call cancels it there: two real `serve` processes on one Redis, raw MCP
requests over HTTP, so that the test chooses the worker of each request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bus.gateway.state.redis_capacity import PREFIX
from tests.mcp.clients import mcp_url
from tests.servers import REDIS_URL, needs_redis, redis_keys_cleared

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    needs_redis,
]

PROTOCOL_VERSION = "2025-06-18"
CALL_ID = 7
ANSWER_TIMEOUT_SECS = 20


def _headers(token: str, session_id: str | None = None) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
    }
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return headers


def _messages(body: str) -> list[dict]:
    """Return the JSON-RPC messages of a JSON or an SSE response body."""
    if body.lstrip().startswith("{"):
        return [json.loads(body)]
    return [
        json.loads(line.removeprefix("data:"))
        for line in body.splitlines()
        if line.startswith("data:") and line.removeprefix("data:").strip()
    ]


async def _initialize(http: httpx.AsyncClient, port: int, token: str) -> str:
    answer = await http.post(
        mcp_url(port),
        headers=_headers(token),
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "cross-worker-test", "version": "1"},
            },
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


async def test_mcp_cancel__from_another_worker_ends_the_call_with_cancelled(
    control_plane, agent
) -> None:
    token = agent[1]
    with redis_keys_cleared(REDIS_URL, PREFIX):
        runner = control_plane(REDIS_URL=REDIS_URL, LOG_LEVEL="INFO")
        other = control_plane(REDIS_URL=REDIS_URL, LOG_LEVEL="INFO")
        async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT_SECS) as http:
            session_id = await _initialize(http, runner.port, token)
            call = asyncio.create_task(
                http.post(
                    mcp_url(runner.port),
                    headers=_headers(token, session_id),
                    json={
                        "jsonrpc": "2.0",
                        "id": CALL_ID,
                        "method": "tools/call",
                        "params": {"name": "sleep", "arguments": {"seconds": 30}},
                    },
                )
            )
            # The call is accepted on the runner before the cancel is sent.
            await asyncio.sleep(1.5)
            assert not call.done()
            cancel = await http.post(
                mcp_url(other.port),
                headers=_headers(token, session_id),
                json={
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": CALL_ID, "reason": "changed my mind"},
                },
            )
            assert cancel.status_code == 202, cancel.text
            try:
                answered = await asyncio.wait_for(call, ANSWER_TIMEOUT_SECS)
            except TimeoutError:
                raise AssertionError(
                    runner.log.read_text() + "\n----\n" + other.log.read_text()
                ) from None
    logs = runner.log.read_text() + other.log.read_text()
    results = [m for m in _messages(answered.text) if m.get("id") == CALL_ID]
    assert results, logs
    assert len(results) == 1, answered.text
    result = results[0]["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("CANCELLED: ")
