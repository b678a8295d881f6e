"""Reports a fixer reads: text and Markdown, most severe first, then by file.

Each finding is listed with where it is (file, line, enclosing function), why
it matters (its reason), how to fix it, its snippet and its triage state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from audit.analysis.constants import TOP_FILES
from audit.analysis.records import FileError, Finding, Severity
from audit.analysis.rules import RULES_BY_CODE

OPEN_STATUS = "open"
# The analyzer's name for "no enclosing function": a module-level finding.
MODULE_SCOPE = "<module>"
# Snippet lines in the text report start with this, so they stand out from prose.
TEXT_QUOTE = "    | "


@dataclass(frozen=True, slots=True)
class Triage:
    """The triage state of a finding, keyed by fingerprint in exports."""

    status: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts of findings by severity, by rule and by file."""

    total: int
    by_severity: dict[str, int]
    by_rule: list[tuple[str, int]]
    top_files: list[tuple[str, int]]


def summarize(findings: Sequence[Finding], top: int = TOP_FILES) -> Summary:
    """Count findings by severity (all levels), rule and file (most first)."""
    severities = Counter(str(finding.severity) for finding in findings)
    return Summary(
        total=len(findings),
        by_severity={str(level): severities[str(level)] for level in Severity},
        by_rule=sorted(Counter(f.code for f in findings).items()),
        top_files=Counter(f.path for f in findings).most_common(top),
    )


def scope(function: str) -> str:
    """Return the enclosing function worth naming: "" at module level."""
    return "" if function == MODULE_SCOPE else function


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Return findings most severe first, then by file, line, column and rule."""
    return sorted(
        findings,
        key=lambda f: (Severity(f.severity).rank, f.path, f.line, f.column, f.code),
    )


def _status(finding: Finding, triage: Mapping[str, Triage]) -> str:
    """Return a finding's triage status and note, as one short phrase."""
    state = triage.get(finding.fingerprint)
    if state is None:
        return OPEN_STATUS
    return f"{state.status}: {state.note}" if state.note else state.status


def _md_cell(text: object) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_fence(snippet: str) -> str:
    """Return a code fence longer than any backtick run in snippet."""
    longest = run = 0
    for char in snippet:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _md_finding(finding: Finding, status: str) -> list[str]:
    """Return the Markdown section of one finding."""
    rule = RULES_BY_CODE[finding.code]
    function = scope(finding.function)
    where = f" in `{_md_cell(function)}`" if function else ""
    lines = [
        f"#### `{_md_cell(finding.path)}:{finding.line}` {finding.code} {rule.name}",
        "",
        f"**{finding.severity}**{where}: {_md_cell(finding.message)}.",
        "",
    ]
    if finding.reason:
        lines += [f"Why it matters: {_md_cell(finding.reason)}", ""]
    fence = _md_fence(finding.snippet)
    lines += [f"Fix: {_md_cell(finding.fix_hint)}", "", f"{fence}python"]
    lines += [finding.snippet, fence, "", f"Status: {_md_cell(status)}", ""]
    return lines


def to_markdown(
    findings: Sequence[Finding],
    *,
    title: str,
    errors: Sequence[FileError] = (),
    triage: Mapping[str, Triage] | None = None,
) -> str:
    """Return a Markdown report: summary tables, then each finding by severity."""
    triage = triage or {}
    summary = summarize(findings)
    lines = [f"# {_md_cell(title)}", "", f"{summary.total} findings.", ""]
    lines += ["| Severity | Count |", "|---|---:|"]
    lines += [f"| {level} | {count} |" for level, count in summary.by_severity.items()]
    lines += ["", "| Rule | Name | Count |", "|---|---|---:|"]
    lines += [
        f"| {code} | {RULES_BY_CODE[code].name} | {count} |"
        for code, count in summary.by_rule
    ]
    if findings:
        lines += ["", "## Findings"]
        severity = None
        for finding in ordered(findings):
            if finding.severity != severity:
                severity = finding.severity
                lines += ["", f"### {severity}", ""]
            lines += _md_finding(finding, _status(finding, triage))
    if errors:
        lines += ["", "## Files that could not be analyzed", ""]
        lines += [
            f"- `{_md_cell(e.path)}`: {e.kind}: {_md_cell(e.message)}" for e in errors
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_finding(finding: Finding, status: str) -> list[str]:
    """Return the lines of one finding in the text report."""
    rule = RULES_BY_CODE[finding.code]
    function = scope(finding.function)
    where = f"  in {function}" if function else ""
    lines = [
        f"{finding.severity:<9} {finding.path}:{finding.line}:{finding.column}  "
        f"{finding.code} {rule.name}{where}",
        f"    {finding.message}",
    ]
    if finding.reason:
        lines.append(f"    why: {finding.reason}")
    lines.append(f"    fix: {finding.fix_hint}")
    lines += [f"{TEXT_QUOTE}{line}".rstrip() for line in finding.snippet.splitlines()]
    lines += [f"    status: {status}", ""]
    return lines


def to_text(
    findings: Sequence[Finding],
    *,
    files_scanned: int,
    errors: Sequence[FileError],
    triage: Mapping[str, Triage] | None = None,
    listing: bool = True,
) -> str:
    """Return the text report: summary tables, then (with listing) each finding.

    Without listing it is the summary table the command prints on the terminal
    when the report itself goes to a file.
    """
    summary = summarize(findings)
    lines = [
        f"Scanned {files_scanned} files: {summary.total} findings, "
        f"{len(errors)} files not analyzed.",
        "",
        f"{'severity':<10} {'count':>6}",
    ]
    lines += [f"{level:<10} {count:>6}" for level, count in summary.by_severity.items()]
    if summary.by_rule:
        lines += ["", f"{'rule':<8} {'name':<32} {'count':>6}"]
        lines += [
            f"{code:<8} {RULES_BY_CODE[code].name:<32} {count:>6}"
            for code, count in summary.by_rule
        ]
    if summary.top_files:
        lines += ["", f"{'top files':<60} {'count':>6}"]
        lines += [f"{path:<60} {count:>6}" for path, count in summary.top_files]
    if errors:
        lines += ["", "files not analyzed:"]
        lines += [f"  {error.path}: {error.kind}: {error.message}" for error in errors]
    if listing and findings:
        lines += ["", "findings, most severe first:", ""]
        for finding in ordered(findings):
            lines += _text_finding(finding, _status(finding, triage or {}))
    return "\n".join(lines).rstrip("\n") + "\n"
