"""manage.py audit: scan Python files, store the run, print a summary, gate CI."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import CommandError

from audit import selectors
from audit.analysis import Family, ScanOptions, Severity
from audit.constants import PROGRESS_MIN_FILES, PROGRESS_STEP_PERCENT
from audit.exceptions import AuditPathError
from audit.models import AuditRun, TriageStatus
from audit.services import audit_run_execute
from controlplane.management.base import EXIT_CODES, DocumentedCommand

KINDS = {
    "silent-failures": frozenset({Family.SILENT_FAILURE}),
    "hardcoded-config": frozenset({Family.HARDCODED_CONFIG}),
    "all": frozenset(Family),
}
FORMATS = ["text", "json", "sarif", "markdown"]


class Command(DocumentedCommand):
    """Scan Python files for silent failures and hard-coded configuration."""

    example = (
        "python manage.py audit controlplane bus audit --fail-on high "
        "--format sarif --output audit.sarif"
    )
    exit_codes = {
        **EXIT_CODES,
        1: "findings at or above --fail-on (the report is still written)",
    }

    help = (
        "Scan Python files for silent failures and hard-coded configuration, store "
        "the run with its findings, and print a report."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the paths and options."""
        parser.add_argument("paths", nargs="+", help="Files or directories to scan.")
        parser.add_argument(
            "--kind", choices=list(KINDS), default="all", help="Rule families to apply."
        )
        parser.add_argument(
            "--format", choices=FORMATS, default="text", help="Report format."
        )
        parser.add_argument(
            "--output", help="Write the report to this file instead of stdout."
        )
        parser.add_argument(
            "--fail-on",
            choices=[level.value for level in Severity],
            help="Exit 1 when an untriaged finding of this severity or worse exists.",
        )
        parser.add_argument(
            "--exclude",
            action="append",
            default=[],
            metavar="GLOB",
            help="Skip paths matching this glob (relative to the scan root).",
        )
        parser.add_argument(
            "--config-module",
            action="append",
            default=[],
            metavar="GLOB",
            help="Also treat matching files as config modules; repeatable.",
        )
        parser.add_argument(
            "--include-tests",
            action="store_true",
            help="Scan test code too (tests/, test_*.py, *_test.py, conftest.py).",
        )
        parser.add_argument(
            "--target",
            help="Name of what is scanned; runs of one target are compared "
            "(default: the resolved paths).",
        )
        parser.add_argument(
            "--jobs", type=int, help="Worker processes (default: one per core)."
        )

    def handle(self, *args: object, **options: object) -> None:
        """Run the scan, write the report, and fail on findings above --fail-on."""
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1", returncode=2)
        scan_options = ScanOptions(
            excludes=tuple(options["exclude"]),
            config_modules=tuple(options["config_module"]),
            include_tests=bool(options["include_tests"]),
        )
        verbosity = int(options["verbosity"])
        try:
            run = audit_run_execute(
                paths=list(options["paths"]),
                families=KINDS[options["kind"]],
                options=scan_options,
                target=options["target"],
                jobs=options["jobs"],
                progress=self._progress if verbosity >= 1 else None,
            )
        except AuditPathError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        report = selectors.run_export(run, options["format"])
        if options["output"]:
            # The report goes to the file, the summary table to the terminal.
            Path(options["output"]).write_text(report, encoding="utf-8")
            if verbosity >= 1:
                self.stdout.write(selectors.run_export(run, "text"), ending="")
        else:
            self.stdout.write(report, ending="")
        gating = self._gating_count(run, options["fail_on"])
        if verbosity >= 1:
            self.stderr.write(
                f"audit run {run.pk}: {run.files_scanned} files, "
                f"{run.findings.count()} findings, {run.files_failed} not analyzed"
            )
        if gating:
            raise CommandError(
                f"{gating} untriaged finding(s) at or above {options['fail_on']}",
                returncode=1,
            )

    def _gating_count(self, run: AuditRun, fail_on: str | None) -> int:
        """Count findings at or above fail_on that are not false positives."""
        if fail_on is None:
            return 0
        threshold = Severity(fail_on)
        levels = [level.value for level in Severity if level.at_least(threshold)]
        return (
            run.findings.filter(severity__in=levels)
            .exclude(status=TriageStatus.FALSE_POSITIVE)
            .count()
        )

    def _progress(self, done: int, total: int) -> None:
        """Report progress on stderr every PROGRESS_STEP_PERCENT of a large tree."""
        if total < PROGRESS_MIN_FILES:
            return
        step = max(total * PROGRESS_STEP_PERCENT // 100, 1)
        if done % step == 0 or done == total:
            self.stderr.write(f"scanned {done}/{total} files")
