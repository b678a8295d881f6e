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


VIEWPORT = {"width": 1400, "height": 900}


def logged_in_page(browser, live_server: LiveServer, staff_user: User):
    """Return a 1400x900 page logged in as staff through the admin login."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    return page


def assert_fits(page, table: str) -> None:
    """The table is no wider than its container: nothing scrolls sideways."""
    widths = page.eval_on_selector(
        table,
        "t => ({table: t.scrollWidth, frame: t.parentElement.clientWidth,"
        " page: document.documentElement.scrollWidth,"
        " viewport: document.documentElement.clientWidth})",
    )
    assert widths["table"] <= widths["frame"], widths
    assert widths["page"] <= widths["viewport"], widths


@pytest.mark.browser
def test_big_run__fits_1400px_filters_and_pages(
    live_server: LiveServer, staff_user: User, big_run: AuditRun, tmp_path
) -> None:
    """A big run's page, its filtered list, the file view and the admin list fit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            page = logged_in_page(browser, live_server, staff_user)
            page.goto(f"{live_server.url}/audit/")
            assert_fits(page, "table.runs")
            page.screenshot(path=tmp_path / "run-list.png", full_page=True)
            page.goto(f"{live_server.url}/audit/runs/{big_run.pk}/")
            expect(page.locator("#findings-count")).to_contain_text(
                "80 of 80 findings, page 1 of 2."
            )
            assert_fits(page, "table.findings")
            page.screenshot(path=tmp_path / "run-page.png", full_page=True)

            # A bar of the severity chart opens the list filtered to it.
            page.locator("figure[data-chart=by-severity] a").nth(2).click()
            expect(page).to_have_url(re.compile(r"\?severity=medium#findings$"))
            expect(page.locator("#findings-count")).to_contain_text(
                "40 of 80 findings match the filters"
            )
            # The form narrows further and keeps the bar's filter.
            page.select_option("select[name=code]", "AUD102")
            page.fill("input[name=path]", "module_05")
            page.click("form.filters button[type=submit]")
            expect(page.locator("#findings-count")).to_contain_text(
                "4 of 80 findings match the filters"
            )
            assert_fits(page, "table.findings")
            page.screenshot(path=tmp_path / "run-page-filtered.png", full_page=True)

            page.locator("a.finding-link").first.click()
            expect(page.locator("table.source")).to_be_visible()
            page.screenshot(path=tmp_path / "file-view.png", full_page=True)
            assert_fits(page, "table.source")

            page.goto(f"{live_server.url}/admin/audit/finding/")
            expect(page.locator("#changelist-filter")).to_contain_text(
                "Latest run of each target"
            )
            assert_fits(page, "#result_list")
            page.screenshot(path=tmp_path / "findings-admin.png", full_page=True)
            page.goto(f"{live_server.url}/admin/audit/auditrun/")
            assert_fits(page, "#result_list")
            page.screenshot(path=tmp_path / "runs-admin.png", full_page=True)
        finally:
            browser.close()
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "file-view.png",
        "findings-admin.png",
        "run-list.png",
        "run-page-filtered.png",
        "run-page.png",
        "runs-admin.png",
    ]
