"""Scanning without a database: `manage.py audit --no-store` and `python -m audit`."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from audit import cli
from audit.models import AuditRun, TriageStatus
from tests.servers import free_port

ROOT = Path(settings.BASE_DIR)


def module_audit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m audit` in a child process with no database configured."""
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        # A database nothing listens on: the module entry point must not care.
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/none",
    }
    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_store__reports_and_gates_with_the_database_down(
    project_tree: Path, database_down, tmp_path: Path
) -> None:
    report = tmp_path / "audit.sarif"
    out, err = StringIO(), StringIO()
    with database_down:
        call_command(
            "audit",
            str(project_tree),
            "--no-store",
            "--format",
            "sarif",
            "--output",
            str(report),
            stdout=out,
            stderr=err,
        )
        with pytest.raises(CommandError) as failed:
            call_command(
                "audit",
                str(project_tree),
                "--no-store",
                "--fail-on",
                "critical",
                stdout=StringIO(),
                stderr=StringIO(),
            )
    assert failed.value.returncode == 1
    assert str(failed.value) == "1 open (untriaged) finding(s) at or above critical"
    assert out.getvalue().startswith("Scanned 3 files: 4 findings")
    assert "audit (not stored): 3 files, 4 findings, 1 not analyzed" in err.getvalue()
    results = json.loads(report.read_text())["runs"][0]["results"]
    assert len(results) == 4
    assert AuditRun.objects.count() == 0


def test_no_store__usage_errors_exit_2(
    project_tree: Path, database_down, tmp_path: Path
) -> None:
    with database_down:
        with pytest.raises(CommandError) as missing:
            call_command("audit", "/nonexistent/tree", "--no-store", stderr=StringIO())
        with pytest.raises(CommandError) as jobs:
            call_command("audit", str(project_tree), "--no-store", "--jobs", "0")
        with pytest.raises(CommandError) as unwritable:
            call_command(
                "audit",
                str(project_tree),
                "--no-store",
                "--output",
                str(tmp_path / "no" / "such" / "dir" / "report.txt"),
                stdout=StringIO(),
                stderr=StringIO(),
            )
    assert (missing.value.returncode, jobs.value.returncode) == (2, 2)
    assert "No such file or directory: /nonexistent/tree" in str(missing.value)
    assert unwritable.value.returncode == 2
    assert str(unwritable.value).startswith(f"cannot write {tmp_path}/no/such")


def test_stored__unwritable_output_exits_2_after_storing(
    db: None, project_tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(CommandError) as unwritable:
        call_command(
            "audit",
            str(project_tree),
            "--emit-config",
            str(tmp_path / "missing-dir" / "suggested.env"),
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert unwritable.value.returncode == 2
    assert "cannot write" in str(unwritable.value)
    assert AuditRun.objects.count() == 1


def test_no_store__emits_config_with_the_database_down(
    project_tree: Path, database_down, tmp_path: Path
) -> None:
    err = StringIO()
    with database_down:
        call_command(
            "audit",
            str(project_tree),
            "--no-store",
            "--emit-config",
            str(tmp_path / "suggested.env"),
            stdout=StringIO(),
            stderr=err,
        )
    assert "MODE=fast\n" in (tmp_path / "suggested.env").read_text()
    assert "MODE = env.str('MODE', default='fast')" in (
        (tmp_path / "suggested.py").read_text()
    )
    assert AuditRun.objects.count() == 0


def test_module_entry_point__exit_codes_and_report(
    project_tree: Path, tmp_path: Path
) -> None:
    passing = module_audit(str(project_tree), "--format", "json")
    assert passing.returncode == 0, passing.stderr
    document = json.loads(passing.stdout)
    assert document["summary"]["total"] == 4
    assert "audit (not stored): 3 files, 4 findings" in passing.stderr

    failing = module_audit(str(project_tree), "--fail-on", "critical")
    assert failing.returncode == 1
    assert "1 open (untriaged) finding(s) at or above critical" in failing.stderr
    assert "findings, most severe first:" in failing.stdout

    cache = tmp_path / "cache"
    module_audit(str(project_tree), "--cache-dir", str(cache))
    cached = module_audit(str(project_tree), "--cache-dir", str(cache))
    assert "3 files (3 from the cache), 4 findings" in cached.stderr

    usage = module_audit(str(tmp_path / "missing"))
    assert usage.returncode == 2
    assert "No such file or directory" in usage.stderr
    assert module_audit(str(project_tree), "--emit-config", "x.py").returncode == 2


def test_module_entry_point__never_imports_django(project_tree: Path) -> None:
    """The CI path pays no Django start-up (about 0.9 s, benchmarks/README.md)."""
    probe = (
        "import sys, io\n"
        "from audit.cli import main\n"
        f"code = main([{str(project_tree)!r}, '--format', 'sarif'])\n"
        "assert code == 0, code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "sys.stderr.write(repr(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("[]")


def test_module_entry_point__imports_libcst_only_for_a_file_that_fails(
    tmp_path: Path,
) -> None:
    """libcst's import costs more than many scans: parsable trees never pay it."""
    (tmp_path / "ok.py").write_text("import os\nPORT = 8080\n")
    probe = (
        "import sys\n"
        "from audit.cli import main\n"
        f"main([{str(tmp_path)!r}, '--output', {os.devnull!r}])\n"
        "sys.stderr.write(repr('libcst' in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("False")


def test_gate__knows_every_triage_status() -> None:
    """The CLI spells the statuses itself (no Django): they must match the model's."""
    assert {cli.OPEN, *cli.TRIAGED} == set(TriageStatus.values)
    checked = cli.gate(["open", "fixed", "open", "false_positive"], "high")
    assert checked.message() == (
        "2 open (untriaged) finding(s) at or above high; "
        "not counted: 1 marked fixed, 1 false positive"
    )
