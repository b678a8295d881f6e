"""The admin home in a real Chromium at 1400x900, against a real `serve` with live
sessions, calls in flight, answered calls and a bus message: its figures match."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright
from websockets.asyncio.client import connect as ws_connect

from audit.models import AuditRun
from bus.models import CallRecord, Message
from tests.audit.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.servers import Server
from tests.workers.clients import hello, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

VIEWPORT = {"width": 1400, "height": 900}
# What the agents do before the operator looks (see _drive).
ANSWERED, ERRORS, IN_FLIGHT, BUSIEST = 10, 3, 3, 2
RECORDS_WAIT_SECS = 15
# The page refreshes every 10 s (controlplane.dashboard.REFRESH_SECS).
REFRESH_WAIT_MS = 25_000


@dataclass
class Agents:
    """Two sessions of one agent in a thread of their own, kept open meanwhile."""

    port: int
    token: str
    ready: threading.Event = field(default_factory=threading.Event)
    more: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    failure: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            asyncio.run(self._drive())
        except BaseException as error:  # noqa: BLE001  (the test thread raises it)
            self.failure.append(error)
            self.ready.set()

    async def _call(self, ws, request_id: str, name: str, arguments: dict) -> dict:
        await ws.send(
            json.dumps(
                {
                    "op": "call_tool",
                    "name": name,
                    "request_id": request_id,
                    "arguments": arguments,
                }
            )
        )
        return await receive(ws, "call_tool_res")

    async def _drive(self) -> None:
        url = f"ws://127.0.0.1:{self.port}/ws/"
        async with ws_connect(url, max_size=None) as first, ws_connect(url) as second:
            for ws in (first, second):
                assert (await hello(ws, self.token))["ok"] is True
            for n in range(6):
                await self._call(first, f"ok-{n}", "echo", {"text": f"t{n}"})
            await self._call(first, "unknown-1", "nope", {})
            # A client's long tool name must not widen the call records list.
            await self._call(first, "unknown-2", "nope-" + "x" * 150, {})
            await self._call(first, "invalid", "echo", {"text": 5})
            reply = await self._call(first, "bus", "generate", {"bytes": 20000})
            assert "bus" in reply, reply
            # Calls in flight: two on the first session, one on the second.
            # Different seconds: the same call in flight would be a DUPLICATE.
            calls = ((first, "s-1", 120), (first, "s-2", 121), (second, "s-3", 122))
            for ws, request_id, seconds in calls:
                await ws.send(
                    json.dumps(
                        {
                            "op": "call_tool",
                            "name": "sleep",
                            "request_id": request_id,
                            "arguments": {"seconds": seconds},
                        }
                    )
                )
                await receive(ws, "call_tool_ack")
            self.ready.set()
            while not self.more.is_set():
                await asyncio.sleep(0.05)
            await self._call(second, "late", "nope", {})
            while not self.done.is_set():
                await asyncio.sleep(0.05)


@pytest.fixture
def agents(control_plane, agent) -> Iterator[Agents]:
    server: Server = control_plane(
        MESSAGE_BUS_THRESHOLD_BYTES="4096",
        CALL_HISTORY_FLUSH_SECS="0.1",
        WS_GLOBAL_MAX_INFLIGHT="10",
        WS_SESSION_MAX_INFLIGHT="4",
    )
    driver = Agents(server.port, agent[1])
    thread = threading.Thread(target=driver.run, daemon=True)
    thread.start()
    assert driver.ready.wait(30), "the agents did not get going"
    if driver.failure:
        raise driver.failure[0]
    yield driver
    driver.more.set()
    driver.done.set()
    thread.join(30)


def _wait_for_records(count: int) -> None:
    """Wait until serve's call history has written `count` records."""
    deadline = time.monotonic() + RECORDS_WAIT_SECS
    while CallRecord.objects.count() < count:
        assert time.monotonic() < deadline, CallRecord.objects.count()
        time.sleep(0.1)


def _log_in(page: Page, base: str, user: User) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def _fits(page: Page, selector: str) -> None:
    """Assert that every element matched is no wider than its container."""
    widths = page.eval_on_selector_all(
        selector,
        "els => els.map(e => [e.scrollWidth, e.parentElement.clientWidth])",
    )
    assert widths, selector
    for scroll, room in widths:
        assert scroll <= room, (selector, scroll, room)
    page_width = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert page_width[0] <= page_width[1], page_width


def test_dashboard__figures_match_the_state_in_a_real_browser(
    agents: Agents, staff_user: User, tmp_path: Path
) -> None:
    run = AuditRun.objects.create(
        target="bus",
        root="/srv",
        status=AuditRun.Status.COMPLETED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    _wait_for_records(ANSWERED)
    expiry = timezone.localtime(Message.objects.get().expires_at)
    base = f"http://127.0.0.1:{agents.port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            _log_in(page, base, staff_user)
            panel = page.locator("#dashboard")
            expect(panel.locator("[data-breaker]")).to_have_text("closed")
            expect(panel.locator("[data-figure=sessions]")).to_have_text("2")
            expect(panel.locator("[data-figure=calls]")).to_have_text(str(ANSWERED))
            expect(panel.locator("[data-figure=errors]")).to_have_text(str(ERRORS))
            expect(panel.locator("[data-figure=error-rate]")).to_have_text("30.0%")
            expect(panel.locator("[data-figure=bus-rows]")).to_have_text("1")
            expect(panel.locator("[data-figure=next-expiry]")).to_contain_text(
                expiry.strftime("%Y-%m-%d %H:%M")
            )
            expect(panel.locator("[data-figure=last-audit]")).to_contain_text(
                f"#{run.pk} completed, 0 findings"
            )
            limits = panel.locator("#dashboard-limits")
            expect(limits.locator("tr[data-scope=global] .used")).to_have_text(
                f"{IN_FLIGHT} / 10"
            )
            expect(limits.locator("tr[data-scope=session] .used")).to_have_text(
                f"{BUSIEST} / 4"
            )
            expect(
                limits.locator("tr[data-scope=provider][data-name=builtin] .used")
            ).to_have_text(f"{IN_FLIGHT} / no own limit")
            columns = panel.locator("figure[data-chart] g.column")
            expect(columns).to_have_count(60)
            assert (
                sum(
                    int(value)
                    for value in columns.evaluate_all(
                        "gs => gs.map(g => g.dataset.value)"
                    )
                )
                == ANSWERED
            )
            expect(panel.locator("figure[data-chart] text.y-tick").first).to_have_text(
                "0"
            )
            assert page.locator("#user-tools a", has_text="View site").count() == 0
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            _fits(page, "#dashboard table, #dashboard figure svg, #operator-pages")

            # It refreshes itself: one more failed call shows up without a reload.
            # (Playwright's loop runs in this thread: no ORM query from here on.)
            agents.more.set()
            expect(panel.locator("[data-figure=calls]")).to_have_text(
                str(ANSWERED + 1), timeout=REFRESH_WAIT_MS
            )
            expect(panel.locator("[data-figure=errors]")).to_have_text(str(ERRORS + 1))

            # The errors link lists exactly the failed calls of the hour.
            page.click("[data-figure=errors]")
            expect(page).to_have_url(
                f"{base}/admin/bus/callrecord/?since=1h&result=error"
            )
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(ERRORS + 1)
            page.screenshot(path=str(tmp_path / "call_records.png"), full_page=True)
            _fits(page, "#result_list")

            page.click("#result_list tbody tr:first-child th a")
            expect(page.locator("#content")).to_contain_text("TOOL_NOT_FOUND")
            expect(page.locator("#content")).to_contain_text("late")
            page.screenshot(path=str(tmp_path / "call_record.png"), full_page=True)
        finally:
            browser.close()
