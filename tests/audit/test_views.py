"""Audit report pages: login, runs list, run page, file view, exports."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from audit.models import AuditRun
from audit.services import finding_triage

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


def test_run_list__shows_runs_with_counts(
    logged_in: Client, audit_run: AuditRun, empty_run: AuditRun
) -> None:
    response = logged_in.get(reverse("audit:run-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("audit:run-detail", args=[audit_run.pk]) in body
    assert reverse("audit:run-detail", args=[empty_run.pk]) in body
    assert "(1 not analyzed)" in body


def test_run_list__empty(logged_in: Client) -> None:
    response = logged_in.get(reverse("audit:run-list"))
    assert "No audit runs yet" in response.content.decode()


def test_run_detail__charts_findings_and_escaping(
    logged_in: Client, audit_run: AuditRun
) -> None:
    response = logged_in.get(reverse("audit:run-detail", args=[audit_run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") == 3
    for chart in ("by-severity", "by-rule", "by-file"):
        assert f'data-chart="{chart}"' in body
    assert "<title>critical: 1</title>" in body
    assert "<title>AUD102: 1</title>" in body
    assert "first run of this target" in body
    assert "app/client.py:11" in body
    assert "app/broken.py" in body
    assert "cdn" not in body.lower()


def test_run_detail__escapes_snippets(logged_in: Client, audit_run: AuditRun) -> None:
    audit_run.findings.filter(code="AUD102").update(
        snippet='x = "<script>alert(1)</script>"'
    )
    body = logged_in.get(reverse("audit:run-detail", args=[audit_run.pk])).content
    assert b"<script>alert(1)" not in body
    assert b"&lt;script&gt;alert(1)" in body


def test_run_detail__empty_run(logged_in: Client, empty_run: AuditRun) -> None:
    response = logged_in.get(reverse("audit:run-detail", args=[empty_run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "0 findings" in body
    assert body.count("<svg") == 1
    assert "No findings." in body


def test_run_detail__new_and_fixed(
    logged_in: Client,
    audit_run: AuditRun,
    project_tree: Path,
    rescan: Callable[..., AuditRun],
) -> None:
    client_py = project_tree / "client.py"
    client_py.write_text(client_py.read_text().replace("timeout=30", "timeout=t"))
    second = rescan()
    body = logged_in.get(reverse("audit:run-detail", args=[second.pk])).content
    assert b'<strong id="new-count">0</strong> new' in body
    assert b'<strong id="fixed-count">1</strong> fixed' in body


def test_run_file__code_context_with_anchors(
    logged_in: Client, audit_run: AuditRun
) -> None:
    url = reverse("audit:run-file", args=[audit_run.pk])
    response = logged_in.get(url, {"path": "app/client.py"})
    assert response.status_code == 200
    body = response.content.decode()
    for finding in audit_run.findings.all():
        assert f'id="finding-{finding.pk}"' in body
    assert 'id="L11" class="hit"' in body
    assert "def mode():" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_run_file__falls_back_to_snippets_when_file_gone(
    logged_in: Client, audit_run: AuditRun, project_tree: Path
) -> None:
    (project_tree / "client.py").unlink()
    url = reverse("audit:run-file", args=[audit_run.pk])
    body = logged_in.get(url, {"path": "app/client.py"}).content.decode()
    assert "showing the stored snippets" in body
    assert "except Exception:" in body


def test_run_file__unknown_or_escaping_path_is_404(
    logged_in: Client, audit_run: AuditRun
) -> None:
    url = reverse("audit:run-file", args=[audit_run.pk])
    assert logged_in.get(url, {"path": "../../etc/passwd"}).status_code == 404
    assert logged_in.get(url).status_code == 404


def test_run_export__sarif_json_markdown(
    logged_in: Client, audit_run: AuditRun
) -> None:
    finding_triage(
        findings=audit_run.findings.filter(code="AUD102"),
        status="false_positive",
        note="docs",
        user=None,
    )
    sarif = logged_in.get(reverse("audit:run-export", args=[audit_run.pk, "sarif"]))
    assert sarif["Content-Type"] == "application/sarif+json"
    assert f"audit-run-{audit_run.pk}.sarif" in sarif["Content-Disposition"]
    results = json.loads(sarif.content)["runs"][0]["results"]
    assert [r["ruleId"] for r in results if "suppressions" in r] == ["AUD102"]
    document = json.loads(
        logged_in.get(reverse("audit:run-export", args=[audit_run.pk, "json"])).content
    )
    assert document["meta"]["target"] == "proj"
    assert document["summary"]["total"] == 4
    markdown = logged_in.get(reverse("audit:run-export", args=[audit_run.pk, "md"]))
    assert markdown["Content-Type"].startswith("text/markdown")
    assert "| AUD002 | broad-except-swallowed | 1 |" in markdown.content.decode()
    assert (
        logged_in.get(
            reverse("audit:run-export", args=[audit_run.pk, "xml"])
        ).status_code
        == 404
    )


def test_run_export__empty_run(logged_in: Client, empty_run: AuditRun) -> None:
    sarif = logged_in.get(reverse("audit:run-export", args=[empty_run.pk, "sarif"]))
    assert json.loads(sarif.content)["runs"][0]["results"] == []
