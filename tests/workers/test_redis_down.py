"""A real `serve` whose Redis hangs, then dies, then comes back: hellos are
refused as unavailable (1013) within REDIS_TIMEOUT_SECS, health, /metrics and
the admin still answer with this worker's own figures marked stale, and
everything resumes when Redis answers again, without a restart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.servers import RedisServer, Server
from tests.workers.clients import admin_client, health, hello

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REDIS_TIMEOUT_SECS = 1.0
# Scheduling on a loaded machine, on top of the timeout: not a speed target,
# the bound that tells "answers" from "hangs" (the hello timeout is 15 s).
SLACK_SECS = 3.0
BOUND_SECS = REDIS_TIMEOUT_SECS + SLACK_SECS
RECOVERY_SECS = 15.0
PASSWORD = "operator-pass-123"  # audit: ignore[AUD105] the staff_user fixture's


async def _refused_hello(server: Server, token: str) -> tuple[dict[str, Any], int]:
    """Return the hello_ack and close code of a hello, which must not hang."""
    async with asyncio.timeout(BOUND_SECS):
        ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/", close_timeout=1)
        ack = await hello(ws, token)
        await ws.wait_closed()
    return ack, ws.close_code


async def _hello_works_again(server: Server, token: str) -> None:
    deadline = time.monotonic() + RECOVERY_SECS
    while True:
        ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/", close_timeout=1)
        ack = await hello(ws, token)
        await ws.close()
        if ack["ok"]:
            return
        assert ack["error"] == "unavailable", ack
        assert time.monotonic() < deadline, "hellos did not resume"
        await asyncio.sleep(0.2)


async def _bounded_health(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(BOUND_SECS):
        return await health(ws)


async def _stale_gauge(http: httpx.Client) -> str:
    body = (await asyncio.to_thread(http.get, "/metrics")).text
    return next(
        line
        for line in body.splitlines()
        if line.startswith("controlplane_deployment_stale{")
    )


async def _assert_degraded(
    server: Server, token: str, ws: Any, http: httpx.Client
) -> None:
    ack, code = await _refused_hello(server, token)
    assert ack == {"op": "hello_ack", "ok": False, "error": "unavailable"}
    assert code == 1013
    state = await _bounded_health(ws)
    assert state["stale"] is True and state["workers"] == 1
    assert state["sessions"] == 1 and state["global_inflight"] == 0
    assert (await _stale_gauge(http)).endswith(" 1.0")
    page = await asyncio.to_thread(http.get, "/admin/bus/provider/capacity/")
    assert page.status_code == 200 and "Redis is down" in page.text


async def _assert_whole(ws: Any, http: httpx.Client) -> None:
    deadline = time.monotonic() + RECOVERY_SECS
    while (state := await _bounded_health(ws))["stale"]:
        assert time.monotonic() < deadline, "health stayed stale"
        await asyncio.sleep(0.2)
    assert state["sessions"] == 1
    assert (await _stale_gauge(http)).endswith(" 0.0")
    page = await asyncio.to_thread(http.get, "/admin/bus/provider/capacity/")
    assert "Redis is down" not in page.text


def test_serve_with_redis_down__refuses_hellos_reports_stale_and_recovers(
    tmp_path, control_plane, agent, staff_user
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        server = control_plane(
            REDIS_URL=redis.url, REDIS_TIMEOUT_SECS=str(REDIS_TIMEOUT_SECS)
        )
        http = admin_client(
            f"http://127.0.0.1:{server.port}", staff_user.username, PASSWORD
        )

        async def scenario() -> None:
            ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/", close_timeout=1)
            assert (await hello(ws, agent[1]))["ok"] is True
            await _assert_whole(ws, http)

            redis.pause()  # hangs: every command runs into REDIS_TIMEOUT_SECS
            await _assert_degraded(server, agent[1], ws, http)
            redis.resume()
            await _hello_works_again(server, agent[1])
            await _assert_whole(ws, http)

            redis.stop()  # gone: connections refused
            await _assert_degraded(server, agent[1], ws, http)
            redis.start()
            await _hello_works_again(server, agent[1])
            await _assert_whole(ws, http)
            assert ws.close_code is None
            await ws.close()

        asyncio.run(scenario())
        http.close()
    finally:
        redis.resume()
        redis.stop()
