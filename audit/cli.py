"""The audit's command line, without Django or a database: `python -m audit`.

`manage.py audit` declares the same arguments (add_scan_arguments) and, with
`--no-store`, runs this same path (run), so CI can gate on a scan without a
database and without Django's start-up. Exit codes: 0 nothing open at or above
--fail-on, 1 open findings there, 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from audit.analysis import Family, ScanOptions, ScanResult, Severity, scan
from audit.analysis.config_render import env_fragment, settings_snippet
from audit.analysis.config_template import Template, config_template, read_scanned
from audit.analysis.exports import FORMATS, render, to_text

KINDS = {
    "silent-failures": frozenset({Family.SILENT_FAILURE}),
    "hardcoded-config": frozenset({Family.HARDCODED_CONFIG}),
    "all": frozenset(Family),
}
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
# Triage statuses as audit.models.TriageStatus spells them (this module runs
# without Django, so it cannot import them; a test keeps the two in step).
OPEN = "open"
TRIAGED = {
    "acknowledged": "acknowledged",
    "fixed": "marked fixed",
    "false_positive": "false positive",
}
SETTINGS_SUFFIX = ".py"


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit code 2)."""


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the paths and the options shared by both entry points."""
    parser.add_argument("paths", nargs="+", help="Files or directories to scan.")
    parser.add_argument(
        "--kind",
        choices=list(KINDS),
        default="all",
        help="Rule families to apply (default: all).",
    )
    parser.add_argument(
        "--format",
        choices=list(FORMATS),
        default="text",
        help="Report format (default: text, the summary and every finding).",
    )
    parser.add_argument(
        "--output",
        help="Write the report to this file; the summary table goes to stdout.",
    )
    parser.add_argument(
        "--fail-on",
        choices=[level.value for level in Severity],
        help="Exit 1 when an open (untriaged) finding of this severity or worse "
        "exists; acknowledged findings and false positives do not count.",
    )
    parser.add_argument(
        "--emit-config",
        metavar="FILE",
        help="Write a suggested key per hard-coded finding: a .env.example fragment "
        "to FILE and a django-environ settings snippet to FILE with its suffix "
        "replaced by .py.",
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
        "--jobs", type=int, help="Worker processes (default: one per core)."
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="Keep each file's results in DIR and reuse them while the file and "
        "the analyzer are unchanged (default: no cache).",
    )


def scan_options(options: Mapping[str, Any]) -> ScanOptions:
    """Return the ScanOptions of parsed arguments. Raises UsageError."""
    jobs = options.get("jobs")
    if jobs is not None and int(jobs) < 1:
        raise UsageError("--jobs must be at least 1")
    return ScanOptions(
        excludes=tuple(options["exclude"]),
        config_modules=tuple(options["config_module"]),
        include_tests=bool(options["include_tests"]),
    )


def config_paths(file: str) -> tuple[Path, Path]:
    """Return where --emit-config FILE writes: (.env fragment, settings snippet).

    Raises UsageError when FILE ends in .py: both would be the same file.
    """
    env_path = Path(file)
    if env_path.suffix == SETTINGS_SUFFIX:
        raise UsageError(
            f"--emit-config {file}: give the .env file (e.g. suggested.env); "
            "the settings snippet is written beside it with the suffix .py"
        )
    return env_path, env_path.with_suffix(SETTINGS_SUFFIX)


def write_file(path: str | Path, text: str) -> None:
    """Write a report or template file. Raises UsageError when it cannot be written."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_config(template: Template, file: str) -> str:
    """Write the template to --emit-config's two files; return a summary line.

    Raises UsageError when a file cannot be written.
    """
    env_path, settings_path = config_paths(file)
    write_file(env_path, env_fragment(template))
    write_file(settings_path, settings_snippet(template))
    return (
        f"wrote {len(template.suggestions)} suggested key(s) to {env_path} and "
        f"{settings_path} ({len(template.skipped)} finding(s) without a key)"
    )


@dataclass(frozen=True, slots=True)
class Gate:
    """Findings at or above --fail-on, by triage state; only open ones fail."""

    level: str
    open: int
    # Status -> count of the triaged ones the gate leaves out, in TRIAGED order.
    left_out: dict[str, int]

    def message(self) -> str:
        """Return the line that explains the exit code."""
        text = f"{self.open} open (untriaged) finding(s) at or above {self.level}"
        shown = [
            f"{count} {TRIAGED[status]}"
            for status, count in self.left_out.items()
            if count
        ]
        return f"{text}; not counted: {', '.join(shown)}" if shown else text


def gate(statuses: Sequence[str], level: str) -> Gate:
    """Count the triage statuses of the findings at or above level."""
    return Gate(
        level=level,
        open=sum(status == OPEN for status in statuses),
        left_out={
            status: sum(given == status for given in statuses) for status in TRIAGED
        },
    )


def at_or_above(severity: str, level: str) -> bool:
    """Return True when severity is as urgent as level or more."""
    return Severity(severity).at_least(Severity(level))


def run(options: Mapping[str, Any], stdout: TextIO, stderr: TextIO) -> str | None:
    """Scan, report and gate without storing anything.

    Returns why the gate fails (exit code 1), or None when it passes. Raises
    UsageError for a bad option or a missing path.
    """
    scanned = scan_options(options)
    emit = options.get("emit_config")
    if emit:
        config_paths(str(emit))
    paths = [str(path) for path in options["paths"]]
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise UsageError(f"No such file or directory: {', '.join(missing)}")
    result = scan(
        paths,
        families=KINDS[str(options["kind"])],
        options=scanned,
        jobs=options.get("jobs"),
        cache_dir=options.get("cache_dir"),
    )
    _report(result, options, stdout)
    if emit:
        template = config_template(
            result.findings,
            lambda path: read_scanned(
                result.root, path, result.file_hashes.get(path, "")
            ),
        )
        stderr.write(write_config(template, str(emit)) + "\n")
    cached = (
        f" ({result.files_cached} from the cache)" if options.get("cache_dir") else ""
    )
    stderr.write(
        f"audit (not stored): {result.files_scanned} files{cached}, "
        f"{len(result.findings)} findings, {len(result.errors)} not analyzed\n"
    )
    level = options.get("fail_on")
    if not level:
        return None
    # Nothing is stored, so nothing has been triaged: every finding is open.
    checked = gate(
        [OPEN for f in result.findings if at_or_above(f.severity, str(level))],
        str(level),
    )
    return checked.message() if checked.open else None


def _report(result: ScanResult, options: Mapping[str, Any], stdout: TextIO) -> None:
    """Write the report to --output (and the summary to stdout), or to stdout."""
    report = render(
        str(options["format"]),
        result.findings,
        root=result.root,
        files_scanned=result.files_scanned,
        errors=result.errors,
        title=f"Audit of {' '.join(map(str, options['paths']))}",
        meta={"root": result.root, "files_scanned": result.files_scanned},
    )
    output = options.get("output")
    if not output:
        stdout.write(report)
        return
    write_file(str(output), report)
    stdout.write(
        to_text(
            result.findings,
            files_scanned=result.files_scanned,
            errors=result.errors,
            listing=False,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the scan and return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m audit",
        description="Scan Python files for silent failures and hard-coded "
        "configuration; report without storing anything.",
        epilog="Exit codes: 0 no open finding at or above --fail-on, 1 such "
        "findings, 2 usage errors. Example: python -m audit controlplane bus "
        "audit --fail-on high --format sarif --output audit.sarif",
    )
    add_scan_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        failed = run(options, sys.stdout, sys.stderr)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return EXIT_USAGE
    if failed:
        sys.stderr.write(failed + "\n")
        return EXIT_FINDINGS
    return EXIT_OK
