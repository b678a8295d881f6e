"""manage.py audit: exit codes, formats, output file, progress, self-audit."""

import json
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from audit.analysis.constants import PARALLEL_MIN_FILES
from audit.constants import PROGRESS_MIN_FILES
from audit.models import AuditRun, Finding
from audit.services import finding_triage
from tests.audit.test_analysis_exports import SARIF_REQUIRED

pytestmark = pytest.mark.django_db


def audit(*args: str) -> tuple[str, str]:
    """Run the command and return (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_audit__text_summary_and_exit_0(project_tree: Path) -> None:
    out, err = audit(str(project_tree))
    assert out.startswith("Scanned 3 files: 4 findings, 1 files not analyzed.")
    assert "critical        1" in out
    assert "AUD102   hardcoded-host" in out
    assert "app/client.py" in out
    assert "app/broken.py: syntax:" in out
    run = AuditRun.objects.get()
    assert f"audit run {run.pk}: 3 files, 4 findings, 1 not analyzed" in err
    assert Finding.objects.filter(run=run).count() == 4


def test_audit__fail_on_exits_1_at_or_above_threshold(project_tree: Path) -> None:
    with pytest.raises(CommandError) as failed:
        audit(str(project_tree), "--fail-on", "medium")
    assert failed.value.returncode == 1
    assert "4 open (untriaged) finding(s) at or above medium" in str(failed.value)
    audit(str(project_tree), "--kind", "hardcoded-config", "--fail-on", "critical")


def test_audit__false_positives_do_not_fail_the_gate(project_tree: Path) -> None:
    with pytest.raises(CommandError):
        audit(str(project_tree), "--fail-on", "critical", "--target", "gate")
    first = AuditRun.objects.get()
    finding_triage(
        findings=first.findings.filter(severity="critical"),
        status="false_positive",
        note="reviewed",
        user=None,
    )
    audit(str(project_tree), "--fail-on", "critical", "--target", "gate")
    assert AuditRun.objects.count() == 2


def test_audit__fail_on_counts_open_findings_only_and_says_so(
    project_tree: Path,
) -> None:
    """Acknowledged findings no longer fail the gate, and the message says so."""
    with pytest.raises(CommandError):
        audit(str(project_tree), "--fail-on", "medium", "--target", "gate")
    first = AuditRun.objects.get()
    finding_triage(
        findings=first.findings.filter(code="AUD002"),
        status="acknowledged",
        note="fixing next sprint",
        user=None,
    )
    finding_triage(
        findings=first.findings.filter(code="AUD102"),
        status="false_positive",
        note="a schema id",
        user=None,
    )
    with pytest.raises(CommandError) as failed:
        audit(str(project_tree), "--fail-on", "medium", "--target", "gate")
    assert failed.value.returncode == 1
    assert str(failed.value) == (
        "2 open (untriaged) finding(s) at or above medium; "
        "not counted: 1 acknowledged, 1 false positive"
    )
    audit(str(project_tree), "--fail-on", "critical", "--target", "gate")


def test_audit__usage_errors_exit_2(project_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError) as missing:
        audit(str(tmp_path / "missing"))
    assert missing.value.returncode == 2
    with pytest.raises(CommandError) as jobs:
        audit(str(project_tree), "--jobs", "0")
    assert jobs.value.returncode == 2
    with pytest.raises(CommandError):
        audit(str(project_tree), "--format", "xml")
    assert AuditRun.objects.count() == 0


def test_audit__sarif_format_is_valid(project_tree: Path) -> None:
    out, _ = audit(str(project_tree), "--format", "sarif")
    document = json.loads(out)
    jsonschema.validate(document, SARIF_REQUIRED)
    results = document["runs"][0]["results"]
    assert {r["properties"]["family"] for r in results} == {
        "silent_failure",
        "hardcoded_config",
    }
    assert all(r["partialFingerprints"]["auditFingerprint/v1"] for r in results)


def test_audit__json_and_markdown_to_output_file(
    project_tree: Path, tmp_path: Path
) -> None:
    target = tmp_path / "report.json"
    out, _ = audit(str(project_tree), "--format", "json", "--output", str(target))
    assert out.startswith("Scanned 3 files: 4 findings")
    document = json.loads(target.read_text())
    assert document["summary"]["total"] == 4
    assert document["meta"]["files_scanned"] == 3
    assert document["errors"][0]["kind"] == "syntax"
    out, _ = audit(str(project_tree), "--format", "markdown")
    assert out.startswith("# Audit run ")
    assert "### critical\n\n#### `app/client.py:11` AUD002" in out


def test_audit__excludes_and_config_modules(project_tree: Path) -> None:
    out, _ = audit(str(project_tree), "--exclude", "app/broken.py")
    assert out.startswith("Scanned 2 files: 4 findings, 0 files not analyzed.")
    out, _ = audit(str(project_tree), "--config-module", "app/client.py")
    assert "AUD101" not in out
    assert "AUD102" not in out


def test_audit__tests_skipped_unless_included(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("try:\n    f()\nexcept:\n    pass\n")
    out, _ = audit(str(tmp_path / "tests"))
    assert out.startswith("Scanned 0 files: 0 findings")
    out, _ = audit(str(tmp_path / "tests"), "--include-tests")
    assert out.startswith("Scanned 1 files: 1 findings")


def test_audit__progress_on_stderr_for_large_trees(tmp_path: Path) -> None:
    count = max(PROGRESS_MIN_FILES, PARALLEL_MIN_FILES)
    for number in range(count):
        (tmp_path / f"m{number:04}.py").write_text("x = 1\n")
    _, err = audit(str(tmp_path), "--jobs", "2")
    assert f"scanned {count}/{count} files" in err
    _, quiet = audit(str(tmp_path), "--verbosity", "0")
    assert quiet == ""


def test_audit__self_audit_has_no_high_findings() -> None:
    """Our own packages pass our own rules at --fail-on high."""
    base = Path(settings.BASE_DIR)
    packages = [
        str(base / name)
        for name in ("controlplane", "bus", "audit", "benchmarks", "scripts")
    ]
    out, _ = audit(*packages, "--fail-on", "high", "--exclude", "tests/audit/samples")
    assert "critical        0" in out
    assert "high            0" in out


def test_audit__overlapping_paths_scan_each_file_once(project_tree: Path) -> None:
    """`audit app app/client.py` once failed storing client.py's findings twice."""
    out, _ = audit(str(project_tree), str(project_tree / "client.py"))
    assert out.startswith("Scanned 3 files: 4 findings")
    assert Finding.objects.count() == 4
