"""Render findings as SARIF 2.1.0, JSON, Markdown or text, by format name."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from audit.analysis.constants import SARIF_FINGERPRINT_KEY
from audit.analysis.listings import (
    Summary,
    Triage,
    ordered,
    scope,
    summarize,
    to_markdown,
    to_text,
)
from audit.analysis.records import FileError, Finding, Severity
from audit.analysis.rules import RULES, RULES_BY_CODE

__all__ = [
    "FORMATS",
    "SARIF_FINGERPRINT_KEY",
    "Summary",
    "Triage",
    "dumps",
    "help_uris",
    "ordered",
    "render",
    "summarize",
    "to_json",
    "to_markdown",
    "to_sarif",
    "to_text",
]

TOOL_NAME = "controlplane-audit"
TOOL_VERSION = "1.0.0"
SARIF_VERSION = "2.1.0"
# The schema URL identifies the format; it is not a server we connect to.
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"  # audit: ignore[AUD102]
# Result locations are relative to this base, which originalUriBaseIds maps to
# the scan root, so they resolve wherever the scan was started.
SRCROOT = "%SRCROOT%"
SARIF_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
SUPPRESSED_STATUSES = frozenset({"false_positive"})
FORMATS = ("text", "json", "sarif", "markdown")
# Each rule is documented under a README heading that starts with its code.
README = Path(__file__).resolve().parents[2] / "README.md"
_RULE_HEADING_RE = re.compile(r"^#{2,6} (AUD\d{3}) .*$", re.MULTILINE)


def _github_anchor(heading: str) -> str:
    """Return the anchor GitHub gives a heading: `AUD001 bare-except (high)`."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


@functools.cache
def help_uris(readme: Path = README) -> dict[str, str]:
    """Return rule code -> URI of its section in the README, for SARIF helpUri.

    A rule whose README heading is missing (or a README that is not installed
    next to the package) gets no helpUri rather than a link that goes nowhere.
    """
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        # Installed without the repository's README: the rules keep their help text.
        return {}
    base = readme.as_uri()
    return {
        match.group(1): f"{base}#{_github_anchor(match.group(0).lstrip('#'))}"
        for match in _RULE_HEADING_RE.finditer(text)
    }


def _sarif_rule(code: str, uris: Mapping[str, str]) -> dict:
    """Return the SARIF reportingDescriptor of one rule."""
    rule = RULES_BY_CODE[code]
    descriptor = {
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
    if code in uris:
        descriptor["helpUri"] = uris[code]
    return descriptor


def _artifact(path: str) -> dict:
    """Return the artifactLocation of a path relative to the scan root."""
    return {"uri": quote(path), "uriBaseId": SRCROOT}


def _sarif_result(finding: Finding, index: int, triage: Triage | None) -> dict:
    """Return the SARIF result of one finding."""
    why = finding.reason or finding.fix_hint
    result = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": f"{finding.message}. {why}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact(finding.path),
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
    if scope(finding.function):
        result["locations"][0]["logicalLocations"] = [
            {"fullyQualifiedName": finding.function}
        ]
    if finding.reason:
        result["properties"]["reason"] = finding.reason
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
    root: str | None = None,
    errors: Sequence[FileError] = (),
    triage: Mapping[str, Triage] | None = None,
) -> dict:
    """Return a SARIF 2.1.0 log of the findings, as GitHub code scanning ingests.

    With root (the absolute scan root), originalUriBaseIds maps %SRCROOT% to it,
    so results resolve to files even when the scan did not start at the
    repository root.
    """
    triage = triage or {}
    uris = help_uris()
    codes = sorted({rule.code for rule in RULES} & {f.code for f in findings})
    index = {code: position for position, code in enumerate(codes)}
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{error.kind}: {error.message}"},
            "locations": [
                {"physicalLocation": {"artifactLocation": _artifact(error.path)}}
            ],
        }
        for error in errors
    ]
    run: dict = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": TOOL_VERSION,
                "informationUri": README.as_uri(),
                "rules": [_sarif_rule(code, uris) for code in codes],
            }
        },
        "invocations": [
            {"executionSuccessful": True, "toolExecutionNotifications": notifications}
        ],
        "results": [
            _sarif_result(f, index[f.code], triage.get(f.fingerprint)) for f in findings
        ],
    }
    if root:
        run["originalUriBaseIds"] = {
            SRCROOT: {"uri": Path(root).resolve().as_uri().rstrip("/") + "/"}
        }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


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


def render(
    fmt: str,
    findings: Sequence[Finding],
    *,
    root: str,
    files_scanned: int,
    errors: Sequence[FileError] = (),
    triage: Mapping[str, Triage] | None = None,
    title: str = "Audit",
    meta: Mapping[str, object] | None = None,
) -> str:
    """Render a report in one of FORMATS. Raises ValueError for another format."""
    if fmt == "sarif":
        return dumps(to_sarif(findings, root=root, errors=errors, triage=triage))
    if fmt == "json":
        return dumps(to_json(findings, errors=errors, meta=meta, triage=triage))
    if fmt == "markdown":
        return to_markdown(findings, title=title, errors=errors, triage=triage)
    if fmt == "text":
        return to_text(
            findings, files_scanned=files_scanned, errors=errors, triage=triage
        )
    raise ValueError(f"Unknown report format {fmt!r}")
