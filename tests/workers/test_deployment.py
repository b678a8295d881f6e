"""Two real `serve` processes on one Postgres and one Redis are one deployment:
`health` on each shows the deployment's sessions and calls and names its own
worker; the /metrics deployment gauges agree; idle and waiting sessions on both
stay open for 20 s; the admin's live capacity page, in a real browser, shows
both workers' calls, and its cancel ends a call with CANCELLED."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bus.gateway.state.deployment import PREFIX as DEPLOYMENT_PREFIX
from bus.gateway.state.redis_capacity import PREFIX as CAPACITY_PREFIX
from tests.audit.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.servers import REDIS_URL, Server, free_port, needs_redis, redis_keys_cleared
from tests.workers.clients import health, hello, receive

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.browser,
    needs_redis,
]

# Longer than four times the 5 s poll the channel layer's Redis reads used to
# time out on, so each connection would have been cut several times.
HOLD_SECS = 20
SLEEP_SECS = HOLD_SECS + 40
PASSWORD = "operator-pass-123"  # audit: ignore[AUD105] the staff_user fixture's
VIEWPORT = {"width": 1400, "height": 900}
ZONE = "Europe/Berlin"


@pytest.fixture
def deployment_env() -> Iterator[dict[str, str]]:
    """The workers' environment; the deployment's Redis keys cleared around it."""
    with (
        redis_keys_cleared(REDIS_URL, DEPLOYMENT_PREFIX),
        redis_keys_cleared(REDIS_URL, CAPACITY_PREFIX),
    ):
        yield {"REDIS_URL": REDIS_URL, "WS_CALL_TIMEOUT_SECS": str(SLEEP_SECS + 10)}


async def _open(server: Server, token: str) -> ClientConnection:
    ws = await ws_connect(f"ws://127.0.0.1:{server.port}/ws/", close_timeout=1)
    assert (await hello(ws, token))["ok"] is True
    return ws


async def _start_sleep(ws: ClientConnection, request_id: str, seconds: float) -> None:
    frame = {
        "op": "call_tool",
        "name": "sleep",
        "request_id": request_id,
        "arguments": {"seconds": seconds},
    }
    await ws.send(json.dumps(frame))
    assert (await receive(ws, "call_tool_ack"))["request_id"] == request_id


def _gauges(body: str, worker: str) -> dict[str, str]:
    """Return the deployment gauges' values by name (with labels) of one scrape."""
    found = {}
    for line in body.splitlines():
        if line.startswith("controlplane_deployment_") and f'worker="{worker}"' in line:
            series, value = line.rsplit(" ", 1)
            found[series.replace(f'worker="{worker}"', "").replace(",}", "}")] = value
    return found


def test_two_workers__one_deployment_in_health_metrics_and_the_admin(
    tmp_path, builtin_tools, agent, staff_user, deployment_env
) -> None:
    one, two = (
        Server(tmp_path / name, free_port(), **deployment_env)
        for name in ("one", "two")
    )
    for server in (one, two):
        server.health.parent.mkdir(parents=True)
        server.start()
    try:
        asyncio.run(_scenario(one, two, agent[1], staff_user.username, tmp_path))
    finally:
        for server in (one, two):
            server.stop()


async def _scenario(
    one: Server, two: Server, token: str, username: str, tmp_path: Path
) -> None:
    idle = [await _open(one, token), await _open(two, token)]
    waiting = [await _open(one, token), await _open(two, token)]
    ids = [f"wait-one-{uuid.uuid4().hex[:6]}", f"wait-two-{uuid.uuid4().hex[:6]}"]
    for number, (ws, request_id) in enumerate(zip(waiting, ids, strict=True)):
        # Distinct arguments: identical ones would be DUPLICATE.
        await _start_sleep(ws, request_id, SLEEP_SECS + number)

    await asyncio.sleep(HOLD_SECS)
    assert [ws.close_code for ws in idle + waiting] == [None] * 4

    workers = []
    for ws in idle:
        state = await health(ws)
        assert (state["sessions"], state["global_inflight"]) == (4, 2), state
        assert state["workers"] == 2 and state["stale"] is False
        workers.append(state["worker"])
    assert len(set(workers)) == 2
    own_file = json.loads(one.health.read_text())
    assert (own_file["sessions"], own_file["global_inflight"]) == (2, 1)

    scrapes = []
    for server, worker in zip((one, two), workers, strict=True):
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"http://127.0.0.1:{server.port}/metrics")).text
        scrapes.append(_gauges(body, worker))
    assert scrapes[0] == scrapes[1]
    assert scrapes[0]["controlplane_deployment_sessions{}"] == "4.0"
    assert scrapes[0]['controlplane_deployment_inflight{name="",scope="global"}'] == (
        "2.0"
    )
    assert scrapes[0]["controlplane_deployment_workers{}"] == "2.0"
    assert scrapes[0]["controlplane_deployment_stale{}"] == "0.0"

    await _cancel_from_the_page(one, username, ids, workers, tmp_path)
    result = await receive(waiting[0], "call_tool_res")
    assert result["request_id"] == ids[0]
    assert result["error"]["code"] == "CANCELLED"
    assert [ws.close_code for ws in idle + waiting] == [None] * 4
    await asyncio.gather(*(ws.close() for ws in idle + waiting))


async def _cancel_from_the_page(
    server: Server, username: str, ids: list[str], workers: list[str], tmp_path: Path
) -> None:
    """Log in, see both workers' calls, cancel the one on this page's worker."""
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            page = await (
                await browser.new_context(viewport=VIEWPORT, timezone_id=ZONE)
            ).new_page()
            await page.goto(f"{base}/admin/login/?next=/admin/bus/provider/capacity/")
            await page.fill("#id_username", username)
            await page.fill("#id_password", PASSWORD)
            await page.click("input[type=submit]")
            await expect(page.locator("h1")).to_have_text("Live capacity")
            await expect(page.locator("#capacity-mode")).to_contain_text(
                "2 live workers"
            )
            await expect(page.locator(".cap-zone").first).to_have_text(ZONE)
            calls = page.locator("#capacity-calls")
            for request_id, worker in zip(ids, workers, strict=True):
                row = calls.locator(f'tr[data-request-id="{request_id}"]')
                await expect(row).to_have_attribute("data-worker", worker)
                await expect(row).to_contain_text("agent-one")
                await expect(row.locator(".cap-runtime")).to_have_text(
                    _runtime_pattern()
                )
            scopes = page.locator("#capacity-scopes tr[data-scope=global]")
            await expect(scopes).to_contain_text("2 / 24")
            await expect(scopes).to_contain_text("8%")
            overflow = await page.evaluate(
                "() => [...document.querySelectorAll('#capacity-live table')]"
                ".filter(t => t.scrollWidth > t.parentElement.clientWidth).length"
            )
            assert overflow == 0
            await page.screenshot(path=str(tmp_path / "capacity.png"), full_page=True)
            row = calls.locator(f'tr[data-request-id="{ids[0]}"]')
            await row.locator("input.cap-cancel").click()
            await expect(page.locator(".messagelist")).to_contain_text("Cancelled")
        finally:
            await browser.close()


def _runtime_pattern() -> re.Pattern[str]:
    # Calls of HOLD_SECS and more: seconds, past a minute minutes.
    return re.compile(r"^\d+ (s|min)$")
