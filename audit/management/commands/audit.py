"""manage.py audit: scan Python files, store the run, print a report, gate CI."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from audit import cli, selectors
from audit.analysis import Severity
from audit.constants import PROGRESS_MIN_FILES, PROGRESS_STEP_PERCENT
from audit.exceptions import AuditPathError
from audit.models import AuditRun
from audit.services import audit_run_execute
from controlplane.management.base import EXIT_CODES, DocumentedCommand


class Command(DocumentedCommand):
    """Scan Python files for silent failures and hard-coded configuration."""

    example = (
        "python manage.py audit controlplane bus audit --no-store --fail-on high "
        "--format sarif --output audit.sarif --emit-config suggested.env"
    )
    exit_codes = {
        **EXIT_CODES,
        1: "open (untriaged) findings at or above --fail-on; acknowledged findings "
        "and false positives do not count (the report is still written)",
    }

    help = (
        "Scan Python files for silent failures and hard-coded configuration, store "
        "the run with its findings (unless --no-store), and print a report."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the shared scan options, plus --target and --no-store."""
        cli.add_scan_arguments(parser)
        parser.add_argument(
            "--target",
            help="Name of what is scanned; runs of one target are compared "
            "(default: the resolved paths).",
        )
        parser.add_argument(
            "--no-store",
            action="store_true",
            help="Analyse and report without touching the database (no run is "
            "stored, nothing is triaged: every finding counts as open).",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Skip the system checks with --no-store: they would query the database."""
        if options.get("no_store"):
            options["skip_checks"] = True
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the scan, write the report, and fail on findings above --fail-on."""
        try:
            if options["no_store"]:
                failed = cli.run(options, self.stdout, self.stderr)
                if failed:
                    raise CommandError(failed, returncode=cli.EXIT_FINDINGS)
                return
            cli.scan_options(options)
            if options["emit_config"]:
                cli.config_paths(options["emit_config"])
            run = self._scan(options)
            self._report(run, options)
            if options["emit_config"]:
                template = selectors.run_config_template(run)
                self.stderr.write(cli.write_config(template, options["emit_config"]))
        except (cli.UsageError, AuditPathError) as exc:
            raise CommandError(str(exc), returncode=cli.EXIT_USAGE) from exc
        verbosity = int(options["verbosity"])
        if verbosity >= 1:
            self.stderr.write(
                f"audit run {run.pk}: {run.files_scanned} files, "
                f"{run.findings.count()} findings, {run.files_failed} not analyzed"
            )
        if options["fail_on"]:
            checked = self._gate(run, options["fail_on"])
            if checked.open:
                raise CommandError(checked.message(), returncode=cli.EXIT_FINDINGS)

    def _scan(self, options: dict[str, Any]) -> AuditRun:
        """Scan and store the run. Raises AuditPathError for a missing path."""
        verbosity = int(options["verbosity"])
        return audit_run_execute(
            paths=list(options["paths"]),
            families=cli.KINDS[options["kind"]],
            options=cli.scan_options(options),
            target=options["target"],
            jobs=options["jobs"],
            progress=self._progress if verbosity >= 1 else None,
            cache_dir=options["cache_dir"],
        )

    def _report(self, run: AuditRun, options: dict[str, Any]) -> None:
        """Write the report to --output (summary to stdout) or to stdout.

        Raises UsageError when --output cannot be written.
        """
        report = selectors.run_export(run, options["format"])
        if options["output"]:
            cli.write_file(options["output"], report)
            if int(options["verbosity"]) >= 1:
                summary = selectors.run_export(run, "text", listing=False)
                self.stdout.write(summary, ending="")
        else:
            self.stdout.write(report, ending="")

    def _gate(self, run: AuditRun, level: str) -> cli.Gate:
        """Count the run's findings at or above level by triage status."""
        threshold = Severity(level)
        levels = [s.value for s in Severity if s.at_least(threshold)]
        statuses = run.findings.filter(severity__in=levels).values_list(
            "status", flat=True
        )
        return cli.gate(list(statuses), level)

    def _progress(self, done: int, total: int) -> None:
        """Report progress on stderr every PROGRESS_STEP_PERCENT of a large tree."""
        if total < PROGRESS_MIN_FILES:
            return
        step = max(total * PROGRESS_STEP_PERCENT // 100, 1)
        if done % step == 0 or done == total:
            self.stderr.write(f"scanned {done}/{total} files")
