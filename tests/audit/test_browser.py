"""A real headless Chromium opens a run's report, sees its charts, opens a finding."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from audit.models import AuditRun

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "operator-pass-123"  # audit: ignore[AUD105] the staff_user fixture's


@pytest.mark.browser
def test_report_page__charts_and_click_through_to_file_view(
    live_server: LiveServer, staff_user: User, audit_run: AuditRun
) -> None:
    """Log in, open the run from the list, see the charts, follow a finding."""
    finding = audit_run.findings.get(code="AUD002")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/audit/")
            page.fill("#id_username", staff_user.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.click(f"a[href='/audit/runs/{audit_run.pk}/']")

            expect(page.locator("h1")).to_have_text(f"Audit run #{audit_run.pk}")
            charts = page.locator("figure.chart svg")
            expect(charts).to_have_count(3)
            severity_bars = page.locator("figure[data-chart=by-severity] rect")
            expect(severity_bars).to_have_count(4)
            assert charts.first.bounding_box()["height"] > 0
            critical_bar = severity_bars.first.bounding_box()
            assert critical_bar is not None and critical_bar["width"] > 0

            page.click(f"a.finding-link[href$='#finding-{finding.pk}']")
            expect(page).to_have_url(
                re.compile(rf"/file/\?path=app(/|%2F)client\.py#finding-{finding.pk}$")
            )
            note = page.locator(f"#finding-{finding.pk}")
            expect(note).to_be_visible()
            expect(note).to_contain_text("AUD002")
            expect(page.locator("#L11")).to_contain_text("except Exception:")
        finally:
            browser.close()
