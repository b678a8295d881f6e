"""A real headless Chromium adds an upstream in the admin and switches one tool off."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from bus.models import McpUpstream, Provider, Tool
from tests.audit.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.bus.gateway.upstreams.helpers import HttpUpstream


@pytest.mark.browser
def test_upstream_admin__add_see_status_and_tools_switch_one_off(
    live_server: LiveServer, staff_user: User, http_upstream: HttpUpstream
) -> None:
    Provider.objects.create(name="search-api")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            page.goto(f"{live_server.url}/admin/bus/mcpupstream/add/")
            page.fill("#id_username", staff_user.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")

            page.fill("#id_name", "web")
            page.select_option("#id_transport", "http")
            page.fill("#id_prefix", "web")
            page.select_option("#id_provider", label="search-api")
            page.fill("#id_url", http_upstream.url)
            page.fill("#id_header_lines", "Authorization: Bearer browser-secret")
            page.click("input[name=_continue]")

            expect(page.locator(".messagelist")).to_contain_text("tool(s) added")
            expect(page.locator("#id_header_lines")).to_have_value(
                "Authorization: ********"
            )
            assert "browser-secret" not in page.content()
            expect(page.locator(".field-status")).to_contain_text("up")
            row = page.locator(
                "tr", has=page.locator("td.field-name", has_text="web__record")
            )
            row.locator("input[name$='-enabled']").uncheck()
            page.click("input[name=_continue]")
            expect(page.locator(".messagelist")).to_contain_text("changed successfully")
        finally:
            browser.close()
    assert Tool.objects.get(name="web__record").enabled is False
    assert Tool.objects.get(name="web__echo").enabled is True
    upstream = McpUpstream.objects.get(name="web")
    assert upstream.headers == {"Authorization": "Bearer browser-secret"}
