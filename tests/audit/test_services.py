"""Audit services: storing runs, file errors, triage that follows fingerprints."""

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from audit import selectors
from audit.analysis import ALL_FAMILIES, Family, ScanOptions, scan
from audit.exceptions import AuditPathError, TriageError
from audit.models import AuditRun, Finding, TriageDecision, TriageStatus
from audit.services import (
    audit_run_execute,
    finding_triage,
    run_create,
    run_persist,
)

pytestmark = pytest.mark.django_db


def test_audit_run_execute__stores_findings_and_file_errors(
    audit_run: AuditRun,
) -> None:
    assert audit_run.status == AuditRun.Status.COMPLETED
    assert audit_run.files_scanned == 3
    assert audit_run.files_failed == 1
    assert audit_run.error_files[0]["path"] == "app/broken.py"
    assert audit_run.error_files[0]["kind"] == "syntax"
    codes = sorted(audit_run.findings.values_list("code", flat=True))
    assert codes == ["AUD002", "AUD101", "AUD102", "AUD104"]
    finding = audit_run.findings.get(code="AUD002")
    assert (finding.path, finding.line, finding.column) == ("app/client.py", 11, 5)
    assert finding.severity == "critical"
    assert finding.family == "silent_failure"
    assert finding.snippet == "except Exception:\n    pass"
    assert finding.status == TriageStatus.OPEN
    assert len(finding.fingerprint) == 64


def test_audit_run_execute__kinds_limit_families(project_tree: Path) -> None:
    run = audit_run_execute(
        paths=[str(project_tree)],
        families=[Family.SILENT_FAILURE],
        options=ScanOptions(),
        jobs=1,
    )
    assert list(run.findings.values_list("code", flat=True)) == ["AUD002"]
    assert run.kinds == ["silent_failure"]
    assert run.target == str(project_tree)


def test_audit_run_execute__missing_path_raises_and_stores_nothing(
    tmp_path: Path,
) -> None:
    with pytest.raises(AuditPathError):
        audit_run_execute(
            paths=[str(tmp_path / "missing")],
            families=ALL_FAMILIES,
            options=ScanOptions(),
        )
    assert AuditRun.objects.count() == 0


def test_finding_triage__records_who_when_and_decision(
    audit_run: AuditRun, staff_user: User
) -> None:
    findings = audit_run.findings.filter(code__in=["AUD101", "AUD104"])
    changed = finding_triage(
        findings=findings, status="acknowledged", note="next sprint", user=staff_user
    )
    assert changed == 2
    for finding in audit_run.findings.filter(code__in=["AUD101", "AUD104"]):
        assert finding.status == "acknowledged"
        assert finding.triage_note == "next sprint"
        assert finding.triaged_by == staff_user
        assert finding.triaged_at is not None
    assert TriageDecision.objects.filter(target="proj").count() == 2


def test_finding_triage__unknown_status_raises(audit_run: AuditRun) -> None:
    with pytest.raises(TriageError):
        finding_triage(
            findings=audit_run.findings.all(), status="ignored", note="", user=None
        )
    assert not audit_run.findings.exclude(status="open").exists()


def test_triage__false_positive_stays_suppressed_in_next_run(
    audit_run: AuditRun,
    project_tree: Path,
    staff_user: User,
    rescan: Callable[..., AuditRun],
) -> None:
    """The decision follows the fingerprint even when lines move."""
    host = audit_run.findings.filter(code="AUD102")
    finding_triage(
        findings=host, status="false_positive", note="public docs", user=staff_user
    )
    client = project_tree / "client.py"
    client.write_text("# moved down\n\n" + client.read_text())
    second = rescan()
    moved = second.findings.get(code="AUD102")
    assert moved.line == host.get().line + 2
    assert moved.status == TriageStatus.FALSE_POSITIVE
    assert moved.triage_note == "public docs"
    assert moved.triaged_by == staff_user
    assert second.findings.filter(status="open").count() == 3


def test_triage__fixed_finding_that_returns_reopens(
    audit_run: AuditRun, project_tree: Path, rescan: Callable[..., AuditRun]
) -> None:
    finding_triage(
        findings=audit_run.findings.filter(code="AUD002"),
        status="fixed",
        note="",
        user=None,
    )
    second = rescan()
    assert second.findings.get(code="AUD002").status == TriageStatus.OPEN


def test_triage__does_not_cross_targets(
    audit_run: AuditRun, project_tree: Path, rescan: Callable[..., AuditRun]
) -> None:
    finding_triage(
        findings=audit_run.findings.all(), status="false_positive", note="", user=None
    )
    other = rescan(target="other")
    assert set(other.findings.values_list("status", flat=True)) == {"open"}


def test_run_changes__new_and_fixed_since_previous_run(
    audit_run: AuditRun, project_tree: Path, rescan: Callable[..., AuditRun]
) -> None:
    client = project_tree / "client.py"
    source = client.read_text()
    source = source.replace("timeout=30", "timeout=settings.TIMEOUT")
    client.write_text(source + '\n\nBACKUP = "/var/backups/app"\n')
    second = rescan()
    changes = selectors.run_changes(second)
    assert changes.previous == audit_run
    assert [f.code for f in changes.new] == ["AUD106"]
    assert [f.code for f in changes.fixed] == ["AUD104"]
    assert (changes.new_count, changes.fixed_count) == (1, 1)
    assert selectors.run_changes(audit_run).previous is None


def test_run_summary__counts_every_severity(audit_run: AuditRun) -> None:
    summary = selectors.run_summary(audit_run)
    assert summary.total == 4
    assert summary.by_severity == [
        ("critical", 1),
        ("high", 0),
        ("medium", 3),
        ("low", 0),
    ]
    assert summary.by_rule == [
        ("AUD002", 1),
        ("AUD101", 1),
        ("AUD102", 1),
        ("AUD104", 1),
    ]
    assert summary.by_file == [("app/client.py", 4)]


def test_run_findings__most_severe_first(audit_run: AuditRun) -> None:
    assert [f.code for f in selectors.run_findings(audit_run)][0] == "AUD002"
    assert Finding.objects.count() == 4


def test_finding_triage__same_fingerprint_in_two_runs_is_one_decision(
    audit_run: AuditRun, project_tree: Path, rescan: Callable[..., AuditRun]
) -> None:
    second = rescan()
    both = Finding.objects.filter(code="AUD002", run__in=[audit_run, second])
    assert finding_triage(findings=both, status="acknowledged", note="", user=None) == 2
    decision = TriageDecision.objects.get()
    assert (decision.target, decision.status) == ("proj", "acknowledged")


def test_run_persist__keeps_function_reason_and_the_file_hash(
    db: None, project_tree: Path
) -> None:
    """What a fixer needs (where, why) and the file's identity at scan time."""
    result = scan([str(project_tree)], jobs=1)
    result.findings = [
        dataclasses.replace(f, function="load", reason="the error is lost")
        for f in result.findings
    ]
    run = run_create(
        target="proj",
        paths=[str(project_tree)],
        families=ALL_FAMILIES,
        options=ScanOptions(),
    )
    run_persist(run=run, result=result)
    finding = run.findings.get(code="AUD002")
    assert (finding.function, finding.reason) == ("load", "the error is lost")
    source = (project_tree / "client.py").read_bytes()
    assert finding.file_sha256 == hashlib.sha256(source).hexdigest()
    record = selectors.finding_record(finding)
    assert (record.function, record.reason) == ("load", "the error is lost")
