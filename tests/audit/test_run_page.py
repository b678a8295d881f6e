"""A big run's page: pages, filters, bars that link to the filtered list, downloads."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from audit.constants import FINDINGS_PER_PAGE
from audit.models import AuditRun
from audit.services import finding_triage
from tests.audit.test_reports import SCHEMA_PATH

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


def listed(body: str) -> list[str]:
    """Return the path:line of every finding in the findings list, in order."""
    findings = body.split('id="findings"', 1)[1]
    return re.findall(r'class="finding-link"[^>]*>([^<]+)</a>', findings)


def test_run_page__pages_the_findings_keeping_filters(
    reader: Client, big_run: AuditRun
) -> None:
    url = reverse("audit:run-detail", args=[big_run.pk])
    assert big_run.findings.count() == 80 > FINDINGS_PER_PAGE
    first = reader.get(url).text
    assert len(listed(first)) == FINDINGS_PER_PAGE
    assert "80 of 80 findings, page 1 of 2." in first
    second = reader.get(url, {"page": 2}).text
    assert len(listed(second)) == 80 - FINDINGS_PER_PAGE
    assert set(listed(first)).isdisjoint(listed(second))
    # Most severe first: every critical finding comes before the medium ones.
    severities = re.findall(r'<td class="sev-(\w+)">', first.split('id="findings"')[1])
    assert severities == sorted(severities, key=["critical", "medium"].index)

    filtered = reader.get(url, {"severity": "medium", "path": "module_0"}).text
    assert "40 of 80 findings match the filters" in filtered
    assert (
        'href="?severity=medium&amp;path=module_0&amp;page=2#findings"' not in filtered
    )
    assert len(listed(filtered)) == 40
    every = reader.get(url, {"path": "adapter_module"}).text
    assert 'rel="next" href="?path=adapter_module&amp;page=2#findings"' in every
    narrow = reader.get(url, {"path": "module_03", "code": "AUD002"}).text
    assert "4 of 80 findings match the filters" in narrow
    assert all("module_03" in place for place in listed(narrow))


def test_run_page__filters_by_triage_status_and_names_rules(
    reader: Client, big_run: AuditRun
) -> None:
    finding_triage(
        findings=big_run.findings.filter(path__endswith="module_07.py", code="AUD002"),
        status="acknowledged",
        note="known",
        user=None,
    )
    url = reverse("audit:run-detail", args=[big_run.pk])
    body = reader.get(url, {"status": "acknowledged"}).text
    assert "4 of 80 findings match the filters" in body
    assert '<option value="AUD002">AUD002 broad-except-swallowed (40)</option>' in body
    triage = re.search(r'id="triage-link" href="([^"]+)"', body).group(1)
    assert triage.startswith(reverse("admin:audit_finding_changelist"))
    assert f"run__id__exact={big_run.pk}" in triage
    assert "status__exact=acknowledged" in triage
    narrowed = reader.get(url, {"status": "acknowledged", "path": "module_07"}).text
    link = re.search(r'id="triage-link" href="([^"]+)"', narrowed).group(1)
    admin_list = reader.get(link.replace("&amp;", "&"))
    assert admin_list.status_code == 200
    assert admin_list.context["cl"].result_count == 4
    assert "acknowledged<br><small>" in admin_list.text


def test_run_page__bad_filter_says_what_is_wrong_and_lists_all(
    reader: Client, big_run: AuditRun
) -> None:
    url = reverse("audit:run-detail", args=[big_run.pk])
    response = reader.get(url, {"severity": "urgent", "page": "x"})
    assert response.status_code == 200
    assert "Select a valid choice. urgent is not one of the available choices." in (
        response.text
    )
    assert len(listed(response.text)) == FINDINGS_PER_PAGE


def test_run_page__chart_bars_link_to_the_filtered_list(
    reader: Client, big_run: AuditRun
) -> None:
    url = reverse("audit:run-detail", args=[big_run.pk])
    body = reader.get(url).text
    bars = re.findall(r'<a href="([^"]+)">\s*<text class="label"', body)
    assert f"{url}?severity=critical#findings" in bars
    assert f"{url}?code=AUD102#findings" in bars
    by_file = [bar for bar in bars if "path=" in bar]
    assert len(by_file) == 10
    followed = reader.get(by_file[0].replace("&amp;", "&").split("#")[0]).text
    assert "8 of 80 findings match the filters" in followed


def test_run_page__config_template_downloads(
    reader: Client, audit_run: AuditRun, project_tree: Path
) -> None:
    env = reader.get(reverse("audit:run-config", args=[audit_run.pk, "env"]))
    assert env.status_code == 200
    assert f'filename="audit-run-{audit_run.pk}.env"' in env["Content-Disposition"]
    assert "\nAPI_URL=https://api.acme.io/v1\n" in env.text
    assert "\nMODE=fast\n" in env.text
    snippet = reader.get(reverse("audit:run-config", args=[audit_run.pk, "py"]))
    assert "MODE = env.str('MODE', default='fast')" in snippet.text
    assert (
        reader.get(reverse("audit:run-config", args=[audit_run.pk, "x"])).status_code
        == 404
    )
    # Once the file changes, its findings get no key: their lines moved.
    client_py = project_tree / "client.py"
    client_py.write_text("\n" + client_py.read_text())
    later = reader.get(reverse("audit:run-config", args=[audit_run.pk, "env"])).text
    assert "API_URL=" not in later
    assert "#   app/client.py:5: the file is gone or changed since the scan" in later


def test_file_view__warns_when_the_file_changed_since_the_scan(
    reader: Client, audit_run: AuditRun, project_tree: Path
) -> None:
    url = reverse("audit:run-file", args=[audit_run.pk])
    before = reader.get(url, {"path": "app/client.py"}).text
    assert 'id="file-changed"' not in before
    assert 'id="L11" class="hit"' in before
    client_py = project_tree / "client.py"
    client_py.write_text("# a new first line\n" + client_py.read_text())
    after = reader.get(url, {"path": "app/client.py"}).text
    assert 'id="file-changed"' in after
    assert "This file has changed since run" in after
    assert 'id="L11"' not in after
    assert "except Exception:" in after


def test_run_export__sarif_of_a_stored_run_maps_to_its_root(
    reader: Client, audit_run: AuditRun, project_tree: Path
) -> None:
    sarif = reader.get(reverse("audit:run-export", args=[audit_run.pk, "sarif"]))
    document = json.loads(sarif.content)
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(document)
    base = document["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == project_tree.parent.resolve().as_uri() + "/"


def test_run_page__an_older_run_points_to_the_latest_of_its_target(
    reader: Client, rescan
) -> None:
    first, latest = rescan(), rescan()
    rescan(target="elsewhere")
    older = reader.get(reverse("audit:run-detail", args=[first.pk])).text
    assert 'id="newer-run"' in older
    assert reverse("audit:run-detail", args=[latest.pk]) in older.split("newer-run")[1]
    current = reader.get(reverse("audit:run-detail", args=[latest.pk])).text
    assert 'id="newer-run"' not in current
