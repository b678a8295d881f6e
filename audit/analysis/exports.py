"""Render findings as SARIF 2.1.0, JSON, Markdown and a plain-text summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from audit.analysis.constants import SARIF_FINGERPRINT_KEY, TOP_FILES
from audit.analysis.records import FileError, Finding, Severity
from audit.analysis.rules import RULES, RULES_BY_CODE

TOOL_NAME = "controlplane-audit"
TOOL_VERSION = "1.0.0"
SARIF_VERSION = "2.1.0"
# The schema URL identifies the format; it is not a server we connect to.
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"  # audit: ignore[AUD102]
SARIF_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
SUPPRESSED_STATUSES = frozenset({"false_positive"})


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


def _sarif_rule(code: str) -> dict:
    """Return the SARIF reportingDescriptor of one rule."""
    rule = RULES_BY_CODE[code]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.message},
        "fullDescription": {"text": f"{rule.message}. {rule.fix_hint}"},
        "help": {"text": rule.fix_hint},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
        "properties": {
            "family": str(rule.family),
            "severity": str(rule.severity),
            "tags": [str(rule.family)],
        },
    }


def _sarif_result(finding: Finding, index: int, triage: Triage | None) -> dict:
    """Return the SARIF result of one finding."""
    result = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": f"{finding.message}. {finding.fix_hint}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": finding.path,
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {
                        "startLine": finding.line,
                        "startColumn": finding.column,
                        "endLine": finding.end_line,
                        "snippet": {"text": finding.snippet},
                    },
                }
            }
        ],
        "partialFingerprints": {SARIF_FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "family": str(finding.family),
            "severity": str(finding.severity),
        },
    }
    if triage is not None:
        result["properties"]["triage"] = triage.status
        if triage.status in SUPPRESSED_STATUSES:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": triage.note}
            ]
    return result


def to_sarif(
    findings: Sequence[Finding],
    *,
    errors: Sequence[FileError] = (),
    triage: Mapping[str, Triage] | None = None,
) -> dict:
    """Return a SARIF 2.1.0 log of the findings, as GitHub code scanning ingests."""
    triage = triage or {}
    codes = sorted({rule.code for rule in RULES} & {f.code for f in findings})
    index = {code: position for position, code in enumerate(codes)}
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{error.kind}: {error.message}"},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": error.path}}}
            ],
        }
        for error in errors
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": TOOL_VERSION,
                        "rules": [_sarif_rule(code) for code in codes],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": [
                    _sarif_result(f, index[f.code], triage.get(f.fingerprint))
                    for f in findings
                ],
            }
        ],
    }


def to_json(
    findings: Sequence[Finding],
    *,
    errors: Sequence[FileError] = (),
    meta: Mapping[str, object] | None = None,
    triage: Mapping[str, Triage] | None = None,
) -> dict:
    """Return a JSON-ready report: meta, summary, findings (with triage), errors."""
    triage = triage or {}
    records = []
    for finding in findings:
        record = asdict(finding)
        state = triage.get(finding.fingerprint)
        if state is not None:
            record["status"] = state.status
            record["triage_note"] = state.note
        records.append(record)
    return {
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "meta": dict(meta or {}),
        "summary": asdict(summarize(findings)),
        "findings": records,
        "errors": [asdict(error) for error in errors],
    }


def dumps(document: dict) -> str:
    """Serialize a report document as indented JSON text."""
    return json.dumps(document, indent=2, default=str) + "\n"


def _md_cell(text: object) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(
    findings: Sequence[Finding],
    *,
    title: str,
    errors: Sequence[FileError] = (),
    triage: Mapping[str, Triage] | None = None,
) -> str:
    """Return a Markdown report: summary tables, findings table, file errors."""
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
        lines += [
            "",
            "## Findings",
            "",
            "| Severity | Rule | Location | Message | Status |",
            "|---|---|---|---|---|",
        ]
        for finding in findings:
            state = triage.get(finding.fingerprint)
            lines.append(
                f"| {finding.severity} | {finding.code} | "
                f"`{_md_cell(finding.path)}:{finding.line}` | "
                f"{_md_cell(finding.message)} | {state.status if state else 'open'} |"
            )
    if errors:
        lines += ["", "## Files that could not be analyzed", ""]
        lines += [
            f"- `{_md_cell(e.path)}`: {e.kind}: {_md_cell(e.message)}" for e in errors
        ]
    return "\n".join(lines) + "\n"


def to_text(
    findings: Sequence[Finding], *, files_scanned: int, errors: Sequence[FileError]
) -> str:
    """Return the plain-text summary table printed by the command."""
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
    return "\n".join(lines) + "\n"
