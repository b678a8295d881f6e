"""The operator's pages in a real Chromium at 1400x900, on realistic data.

Bus messages of 3-20 MiB from several agents with their events, configuration
overrides with history, tokens of every status: each page opens, its main table
fits without horizontal scrolling, its links lead where they say, and a
full-page screenshot goes to the test's folder for review.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from bus.models import BusEvent, Message
from bus.store import services
from bus.store.purge import messages_purge_expired
from bus.store.services import Producer
from controlplane.config import get_config
from controlplane.models import AgentToken
from controlplane.services import config_override_set
from controlplane.tokens import agent_token_create, agent_token_revoke
from tests.audit.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.bus.conftest import result_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]

T = TypeVar("T")
MIB = 1024 * 1024
WIDTH, HEIGHT = 1400, 900
ZONE = "Europe/Berlin"
# (agent, tool, size in MiB) of each stored result.
RESULTS = [
    ("planner", "generate", 3),
    ("planner", "search", 5),
    ("indexer", "generate", 8),
    ("indexer", "crawl", 12),
    ("reporter", "generate", 20),
    ("reporter", "summarize", 4),
]


@dataclass
class Console:
    """What the test created, to compare the pages with."""

    agents: dict[str, AgentToken]
    messages: list[Message]
    expired: Message


@pytest.fixture
def console(transactional_db: None, staff_user: User) -> Console:
    """Several agents' large results, their events, overrides and tokens."""
    agents = {
        name: agent_token_create(name=name)[0]
        for name in ("planner", "indexer", "reporter")
    }
    agent_token_create(name="retired-ci", expires_at=timezone.now() - timedelta(days=2))
    revoked = agent_token_create(name="leaked-laptop")[0]
    agent_token_revoke(agent=revoked)
    config = get_config()
    stored = []
    for index, (name, tool, size) in enumerate(RESULTS):
        producer = Producer(
            agent_id=agents[name].pk,
            agent_name=name,
            session_id=str(uuid.uuid4()),
            request_id=f"r-{uuid.uuid4().hex}",
            tool_name=tool,
            provider_name="builtin",
        )
        stored.append(
            services.message_store(
                payload=result_json(size * MIB, seed=index),
                producer=producer,
                config=config,
            )
        )
    messages = [Message.objects.get(transaction_id=s.transaction_id) for s in stored]
    first = messages[0]
    services.message_fetch(
        transaction_id=first.transaction_id, agent_id=first.agent_id, config=config
    )
    services.message_fetch(
        transaction_id=first.transaction_id,
        agent_id=None,
        config=config,
        operator=staff_user.username,
    )
    gone = messages[2]
    Message.objects.filter(pk=gone.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    messages_purge_expired(batch_size=100)
    expired = messages[4]
    services.message_expire(message_ids=[expired.pk], user=staff_user)
    BusEvent.objects.create(kind=BusEvent.Kind.BREAKER_OPENED, detail={"failures": 5})
    for key, value, reason in [
        ("WS_CALL_TIMEOUT_SECS", "300", "the crawler's big sites take minutes"),
        ("MESSAGE_BUS_THRESHOLD_BYTES", "2097152", "fewer claim checks for 1-2 MiB"),
        ("MESSAGE_BUS_COMPRESSION", "gzip", "compare ratios with zstd this week"),
        ("WS_CALL_TIMEOUT_SECS", "240", "300 s held slots too long at peak"),
    ]:
        config_override_set(key=key, raw_value=value, reason=reason, user=staff_user)
    remaining = list(Message.objects.filter(pk__in=[m.pk for m in messages]))
    return Console(agents=agents, messages=remaining, expired=expired)


@pytest.fixture
def page(live_server: LiveServer, staff_user: User) -> Iterator[Page]:
    """A logged-in operator's browser tab, 1400x900, in the Berlin time zone.

    Tests take it after their data: while Playwright's loop runs in this thread,
    Django refuses queries here (in_thread runs them elsewhere).
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT},
                timezone_id=ZONE,
                locale="en-GB",
            )
            tab = context.new_page()
            tab.goto(f"{live_server.url}/admin/login/")
            tab.fill("#id_username", staff_user.username)
            tab.fill("#id_password", PASSWORD)
            tab.click("input[type=submit]")
            expect(tab.locator("#user-tools")).to_contain_text(staff_user.username)
            yield tab
        finally:
            browser.close()


def open_and_check(page: Page, url: str, table: str, shots: Path, name: str) -> None:
    """Open url, check its main table fits its container and the window, shoot it."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    widths = page.eval_on_selector(
        table,
        """(table) => ({
            table: table.scrollWidth,
            box: table.parentElement.clientWidth,
            boxScroll: table.parentElement.scrollWidth,
            page: document.documentElement.scrollWidth,
            window: window.innerWidth,
        })""",
    )
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert widths["table"] <= widths["box"], (name, widths)
    assert widths["boxScroll"] <= widths["box"], (name, widths)
    assert widths["page"] <= widths["window"], (name, widths)


def test_admin_pages__fit_1400_px_and_show_times_in_the_operators_zone(
    live_server: LiveServer, console: Console, page: Page, tmp_path: Path
) -> None:
    base = live_server.url
    detail = console.messages[0]
    pages = [
        ("bus-messages", reverse("admin:bus_message_changelist"), "#result_list"),
        (
            "bus-message-detail",
            reverse("admin:bus_message_change", args=[detail.pk]),
            "table.bus-events",
        ),
        ("bus-events", reverse("admin:bus_busevent_changelist"), "#result_list"),
        ("bus-overview", reverse("bus:overview"), "#content-main table"),
        (
            "config",
            reverse("admin:controlplane_configoverride_changelist"),
            "#effective-config",
        ),
        (
            "config-history",
            reverse("admin:controlplane_configchange_changelist"),
            "#result_list",
        ),
        (
            "config-override-add",
            reverse("admin:controlplane_configoverride_add")
            + "?key=MESSAGE_BUS_COMPRESSION",
            "fieldset",
        ),
        ("tokens", reverse("admin:controlplane_agenttoken_changelist"), "#result_list"),
        ("token-add", reverse("admin:controlplane_agenttoken_add"), "fieldset"),
    ]
    for name, url, table in pages:
        open_and_check(page, base + url, table, tmp_path, name)
        times = page.locator("time.local-time")
        if times.count():
            expect(times.first).to_have_class(re.compile("localized"))
            assert not times.first.inner_text().endswith("UTC")
            assert re.search(r"CET|CEST|GMT\+", times.first.inner_text())


# The live server is WSGI, so Django buffers the download's async stream there
# (and says so); `serve` is ASGI and streams it.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")
def test_bus_pages__show_sizes_states_and_link_messages_agents_and_events(
    live_server: LiveServer, console: Console, page: Page
) -> None:
    page.goto(live_server.url + reverse("admin:bus_message_changelist"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(len(console.messages))
    expect(page.locator("#result_list .bus-expired")).to_have_count(1)
    expect(page.locator("#result_list img[src*='icon-yes']")).to_have_count(0)
    twenty = page.locator("#result_list tbody tr", has_text="20 MiB")
    expect(twenty).to_contain_text("expired")
    for header in ("transaction", "agent", "state", "size", "created", "expires"):
        expect(page.locator("#result_list thead")).to_contain_text(
            re.compile(header, re.I)
        )

    page.locator("#result_list tbody tr", has_text="3 MiB").locator("th a").click()
    first = next(m for m in console.messages if m.payload_size_bytes == 3 * MIB)
    expect(page.locator("h2").first).to_contain_text(first.transaction_id)
    expect(page.locator(".field-request_id")).to_contain_text(
        first.metadata["request_id"]
    )
    expect(page.locator("pre.bus-preview")).to_contain_text('{"outputs": [{"type"')
    events = page.locator("table.bus-events tbody tr")
    expect(events).to_have_count(3)  # stored, fetched by the agent, by the operator
    expect(events.nth(2)).to_contain_text("operator operator")
    with page.expect_download() as downloading:
        page.click("text=Download the JSON result")
    download = downloading.value
    assert download.suggested_filename == f"{first.transaction_id}.json"
    assert Path(download.path()).stat().st_size == 3 * MIB
    page.reload()
    expect(events).to_have_count(4)
    expect(events.nth(3)).to_contain_text("operator operator")
    owner = next(name for name, a in console.agents.items() if a.pk == first.agent_id)
    expect(events.nth(3).locator("dd")).to_have_text(["operator", owner])
    page.click("table.bus-events a[href*='/agenttoken/']")
    expect(page).to_have_url(
        re.compile(rf"/admin/controlplane/agenttoken/{first.agent_id}/change/$")
    )

    page.goto(live_server.url + reverse("admin:bus_busevent_changelist"))
    expect(page.locator("#result_list")).to_contain_text("system")
    expect(page.locator("#result_list dl.bus-detail").first).to_be_visible()
    assert "{'" not in page.locator("#result_list").inner_text()
    purged = page.locator("#result_list tbody tr", has_text="purged")
    expect(purged.locator("dl.bus-detail")).to_contain_text("8 MiB")
    link = page.locator("#result_list td.field-transaction a").first
    target = link.locator("code").get_attribute("title")
    assert target and target.startswith(link.inner_text().rstrip("…"))
    link.click()
    expect(page.locator("h2").first).to_contain_text(target)

    page.goto(live_server.url + reverse("bus:overview"))
    chart = page.locator("figure.chart svg")
    expect(chart.locator("text.tick")).to_have_count(3)
    expect(chart.locator("text.axis-title")).to_have_count(2)
    today = timezone.now()
    expect(chart.locator("text.label").last).to_have_text(f"{today:%b %d}")
    expect(page.locator("figure.chart figcaption")).to_contain_text(f"{today:%Y-%m-%d}")


def test_config_page__overrides_first_and_the_form_follows_the_key(
    live_server: LiveServer, console: Console, page: Page
) -> None:
    page.goto(live_server.url + reverse("admin:controlplane_configoverride_changelist"))
    first_group = page.locator("#effective-config tbody").first
    expect(first_group).to_contain_text("Overridden now (3)")
    expect(first_group.locator("tr.is-override")).to_have_count(3)
    threshold = page.locator("#key-MESSAGE_BUS_THRESHOLD_BYTES")
    expect(threshold).to_contain_text("2097152 = 2 MiB")
    expect(threshold).to_contain_text("fewer claim checks")
    expect(page.locator("#recent-changes")).to_contain_text(
        "300 s held slots too long at peak"
    )
    page.locator("#key-WS_CALL_TIMEOUT_SECS").get_by_role("link", name="Edit").click()
    expect(page.locator("#id_value")).to_have_value("240")

    page.goto(
        live_server.url
        + reverse("admin:controlplane_configoverride_add")
        + "?key=WS_SESSION_MAX_INFLIGHT"
    )
    expect(page.locator(".field-value .help")).to_contain_text("Calls one session")
    page.fill("#id_reason", "try it")
    page.select_option("#id_key", "FALLBACK_TO_WEBSOCKET")
    expect(page.locator("select#id_value")).to_have_value("true")
    expect(page.locator(".field-value .help")).to_contain_text("send results inline")
    expect(page.locator(".field-value .help")).not_to_contain_text("Calls one session")
    expect(page.locator("#id_reason")).to_have_value("try it")
    page.select_option("#id_value", "false")
    page.click("input[name=_save]")
    expect(page.locator("#key-FALLBACK_TO_WEBSOCKET")).to_contain_text("override")

    remove = page.locator("#key-WS_CALL_TIMEOUT_SECS").get_by_role(
        "link", name="Remove"
    )
    remove.click()
    page.click("input[type=submit]")
    expect(page.locator("#key-WS_CALL_TIMEOUT_SECS")).not_to_have_class(
        re.compile("is-override")
    )


def test_tokens_page__status_filter_identifier_and_links(
    live_server: LiveServer, console: Console, page: Page
) -> None:
    page.goto(live_server.url + reverse("admin:controlplane_agenttoken_changelist"))
    for status, names in [
        ("revoked", ["leaked-laptop"]),
        ("expired", ["retired-ci"]),
        ("active", ["indexer", "planner", "reporter"]),
    ]:
        page.goto(
            live_server.url
            + reverse("admin:controlplane_agenttoken_changelist")
            + f"?status={status}"
        )
        shown = page.locator("#result_list tbody th a").all_inner_texts()
        assert shown == names, status
    planner = console.agents["planner"]
    row = page.locator("#result_list tbody tr", has_text="planner")
    expect(row.locator(".token-id")).to_have_text(planner.token_id)
    row.get_by_role("link", name=re.compile("messages")).click()
    expect(page).to_have_url(re.compile(rf"agent__id__exact={planner.pk}"))
    expect(page.locator("#result_list tbody tr")).to_have_count(
        sum(1 for m in console.messages if m.agent_id == planner.pk)
    )

    page.goto(live_server.url + reverse("admin:controlplane_agenttoken_add"))
    expect(page.locator(".field-created_at, .field-revoked_at")).to_have_count(0)
    page.fill("#id_name", "new-agent")
    page.click("input[name=_save]")
    created = in_thread(lambda: AgentToken.objects.get(name="new-agent"))
    expect(page.locator("#token-id")).to_have_text(created.token_id)


def in_thread(query: Callable[[], T]) -> T:
    """Run a query outside Playwright's event loop, which Django refuses to share."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(query).result()
