"""Read queries of the audit app: summaries, changes between runs, report data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)

from audit.analysis import (
    Family,
    FileError,
    FileErrorKind,
    Severity,
    masked_source_lines,
)
from audit.analysis import Finding as FindingRecord
from audit.analysis.config_template import Template, config_template, read_scanned
from audit.analysis.exports import Triage, render, to_text
from audit.constants import CHANGES_SHOWN, CHART_TOP_FILES, FILE_VIEW_MAX_BYTES
from audit.exceptions import ReportFileError
from audit.models import AuditRun, Finding, SeverityChoices, TriageStatus

SEVERITY_ORDER = Case(
    *[
        When(severity=level.value, then=Value(rank))
        for rank, level in enumerate(SeverityChoices)
    ],
    output_field=IntegerField(),
)


def runs_with_counts() -> QuerySet[AuditRun]:
    """Return runs newest first, annotated with finding counts per severity."""
    counts = {
        f"{level.value}_count": Count("findings", filter=Q(findings__severity=level))
        for level in SeverityChoices
    }
    return AuditRun.objects.annotate(
        findings_count=Count("findings"), **counts
    ).order_by("-started_at", "-id")


def run_findings(run: AuditRun) -> QuerySet[Finding]:
    """Return a run's findings, most severe first, then by location."""
    return run.findings.annotate(severity_rank=SEVERITY_ORDER).order_by(
        "severity_rank", "path", "line", "column", "code"
    )


def filtered_findings(run: AuditRun, filters: dict[str, str]) -> QuerySet[Finding]:
    """Return a run's findings narrowed by severity, code, status, path substring."""
    findings = run_findings(run)
    exact = {
        name: filters[name]
        for name in ("severity", "code", "status")
        if name in filters
    }
    if "path" in filters:
        findings = findings.filter(path__contains=filters["path"])
    return findings.filter(**exact)


@dataclass(frozen=True)
class RunSummary:
    """Counts of a run's findings by severity, rule, file and triage status."""

    total: int
    by_severity: list[tuple[str, int]]
    by_rule: list[tuple[str, int]]
    by_file: list[tuple[str, int]]
    by_status: list[tuple[str, int]]


def run_summary(run: AuditRun, top_files: int = CHART_TOP_FILES) -> RunSummary:
    """Count a run's findings by severity (every level), rule, top files, status."""
    findings = run.findings.all()
    severities = dict(
        findings.values_list("severity").annotate(n=Count("id")).order_by()
    )
    statuses = dict(findings.values_list("status").annotate(n=Count("id")).order_by())
    by_rule = list(
        findings.values_list("code").annotate(n=Count("id")).order_by("code")
    )
    by_file = list(
        findings.values_list("path")
        .annotate(n=Count("id"))
        .order_by("-n", "path")[:top_files]
    )
    return RunSummary(
        total=sum(severities.values()),
        by_severity=[
            (level.value, severities.get(level.value, 0)) for level in Severity
        ],
        by_rule=by_rule,
        by_file=by_file,
        by_status=[
            (status.label, statuses.get(status.value, 0)) for status in TriageStatus
        ],
    )


def latest_runs() -> QuerySet[AuditRun]:
    """Return the latest completed run of each target."""
    later = AuditRun.objects.filter(
        target=OuterRef("target"),
        status=AuditRun.Status.COMPLETED,
        started_at__gt=OuterRef("started_at"),
    )
    return AuditRun.objects.filter(status=AuditRun.Status.COMPLETED).exclude(
        Exists(later)
    )


def newer_run(run: AuditRun) -> AuditRun | None:
    """Return the latest completed run of run's target if it is not run itself."""
    latest = latest_runs().filter(target=run.target).order_by("-id").first()
    return latest if latest is not None and latest.pk != run.pk else None


def previous_run(run: AuditRun) -> AuditRun | None:
    """Return the latest completed run of the same target before run, if any."""
    return (
        AuditRun.objects.filter(
            target=run.target,
            status=AuditRun.Status.COMPLETED,
            started_at__lt=run.started_at,
        )
        .order_by("-started_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class RunChanges:
    """What appeared and disappeared since the previous run of the same target."""

    previous: AuditRun | None
    new: list[Finding]
    fixed: list[Finding]
    new_count: int
    fixed_count: int


def run_changes(run: AuditRun, limit: int = CHANGES_SHOWN) -> RunChanges:
    """Compare run with the previous run of its target by fingerprint."""
    previous = previous_run(run)
    if previous is None:
        # A first run has nothing to compare with: no new, no fixed.
        return RunChanges(None, [], [], 0, 0)
    before = previous.findings.values("fingerprint")
    now = run.findings.values("fingerprint")
    new = run_findings(run).exclude(fingerprint__in=before)
    fixed = run_findings(previous).exclude(fingerprint__in=now)
    return RunChanges(
        previous=previous,
        new=list(new[:limit]),
        fixed=list(fixed[:limit]),
        new_count=new.count(),
        fixed_count=fixed.count(),
    )


def finding_record(finding: Finding) -> FindingRecord:
    """Return the analyzer record of a stored finding, for exports."""
    return FindingRecord(
        code=finding.code,
        family=Family(finding.family),
        severity=Severity(finding.severity),
        path=finding.path,
        line=finding.line,
        column=finding.column,
        end_line=finding.end_line,
        snippet=finding.snippet,
        message=finding.message,
        fix_hint=finding.fix_hint,
        fingerprint=finding.fingerprint,
        function=finding.function,
        reason=finding.reason,
    )


@dataclass(frozen=True)
class RunReport:
    """A run's findings as records, with file errors and triage, for exports."""

    findings: list[FindingRecord]
    errors: list[FileError]
    triage: dict[str, Triage]


def run_report(run: AuditRun) -> RunReport:
    """Return a run's data in the shape the export functions take."""
    findings = list(run_findings(run))
    return RunReport(
        findings=[finding_record(finding) for finding in findings],
        errors=[
            FileError(e["path"], FileErrorKind(e["kind"]), e["message"])
            for e in run.error_files
        ],
        triage={
            f.fingerprint: Triage(f.status, f.triage_note)
            for f in findings
            if f.status != TriageStatus.OPEN
        },
    )


def run_export(run: AuditRun, fmt: str, *, listing: bool = True) -> str:
    """Render a run as text, json, sarif or markdown.

    Without listing, text is the summary table alone. Raises ValueError for
    another format.
    """
    report = run_report(run)
    if fmt == "text" and not listing:
        return to_text(
            report.findings, files_scanned=run.files_scanned, errors=report.errors
        )
    return render(
        fmt,
        report.findings,
        root=run.root,
        files_scanned=run.files_scanned,
        errors=report.errors,
        triage=report.triage,
        title=f"Audit run {run.pk}: {run.target}",
        meta={
            "run": run.pk,
            "target": run.target,
            "root": run.root,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "files_scanned": run.files_scanned,
        },
    )


def run_config_template(run: AuditRun) -> Template:
    """Suggest a setting per hard-coded finding of run, from its files as scanned.

    A file that changed since the scan (its hash differs) is not read: its
    findings are listed as skipped.
    """
    findings = list(run_findings(run).filter(family=Family.HARDCODED_CONFIG))
    hashes = {finding.path: finding.file_sha256 for finding in findings}
    return config_template(
        [finding_record(finding) for finding in findings],
        lambda path: read_scanned(run.root, path, hashes.get(path, "")),
    )


@dataclass(frozen=True)
class SourceLine:
    """One line of a file view, with the findings that start on it."""

    number: int
    text: str
    findings: list[Finding]


class FileState(StrEnum):
    """How the file on disk compares with the file the run scanned."""

    SAME = "same"  # Same SHA-256: the lines shown are the lines scanned.
    CHANGED = "changed"  # Different bytes: only the stored snippets are shown.
    UNRECORDED = "unrecorded"  # A run before hashes: lines shown may have moved.
    UNREADABLE = "unreadable"  # Gone, outside the root, too big or unparsable.


@dataclass(frozen=True)
class FileView:
    """A file of a run: its findings, its state, and its lines when they match."""

    path: str
    findings: list[Finding]
    lines: list[SourceLine]
    state: FileState
    scanned_sha256: str


def file_view(run: AuditRun, path: str) -> FileView:
    """Return a file's findings in their code context.

    The source is read from the run's root when it is still there, inside the
    root, and has the hash the run recorded, with its secret literals masked as
    in the snippets; otherwise the view shows the stored snippets only. Raises
    ReportFileError when the run has no finding in path.
    """
    findings = list(run.findings.filter(path=path).order_by("line", "column"))
    if not findings:
        raise ReportFileError(f"Run {run.pk} has no finding in {path!r}")
    state, lines = _source_lines(run, findings)
    return FileView(
        path=path,
        findings=findings,
        lines=lines,
        state=state,
        scanned_sha256=findings[0].file_sha256,
    )


def _read_source(run: AuditRun, path: str) -> bytes | None:
    """Return the bytes of a run's file, or None when it cannot be shown."""
    root = Path(run.root).resolve()
    source = (root / path).resolve()
    if not source.is_relative_to(root) or not source.is_file():
        return None
    if source.stat().st_size > FILE_VIEW_MAX_BYTES:
        return None
    try:
        return source.read_bytes()
    except OSError:
        # A file that cannot be read back is shown through its snippets.
        return None


def _source_lines(
    run: AuditRun, findings: list[Finding]
) -> tuple[FileState, list[SourceLine]]:
    """Read the scanned file back, with its state; no lines unless they match."""
    path, recorded = findings[0].path, findings[0].file_sha256
    data = _read_source(run, path)
    if data is None:
        return FileState.UNREADABLE, []
    if recorded and hashlib.sha256(data).hexdigest() != recorded:
        return FileState.CHANGED, []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8 (a coding cookie): shown through its snippets.
        return FileState.UNREADABLE, []
    lines = masked_source_lines(text, path)
    if lines is None:
        # No longer parses, so its secrets cannot be found: show the snippets.
        return FileState.UNREADABLE, []
    by_line: dict[int, list[Finding]] = {}
    for finding in findings:
        by_line.setdefault(finding.line, []).append(finding)
    if max(by_line) > len(lines):
        # The file shrank since the run: its lines no longer match the findings.
        return FileState.UNREADABLE, []
    state = FileState.SAME if recorded else FileState.UNRECORDED
    return state, [
        SourceLine(number, line, by_line.get(number, []))
        for number, line in enumerate(lines, 1)
    ]
