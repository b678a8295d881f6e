"""Exports: SARIF 2.1.0 structure, JSON and Markdown reports."""

import json

import jsonschema
import pytest

from audit.analysis import FileError, FileErrorKind, Finding, analyze_source
from audit.analysis.exports import (
    SARIF_FINGERPRINT_KEY,
    Triage,
    dumps,
    to_json,
    to_markdown,
    to_sarif,
    to_text,
)

SOURCE = b"""\
import os

API_URL = "https://api.acme.io/v1"


def load():
    try:
        return store.save(os.getenv("MODE", "fast"))
    except Exception:
        pass
"""

# The parts of the SARIF 2.1.0 schema that GitHub code scanning requires.
SARIF_REQUIRED = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "required": ["text"],
                                },
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture
def findings() -> list[Finding]:
    return list(analyze_source(SOURCE, "pkg/mod.py").findings)


def test_to_sarif__has_required_structure(findings: list[Finding]) -> None:
    document = json.loads(dumps(to_sarif(findings)))
    jsonschema.validate(document, SARIF_REQUIRED)
    run = document["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == ["AUD002", "AUD101", "AUD102"]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]


def test_to_sarif__results_carry_family_severity_fingerprint(
    findings: list[Finding],
) -> None:
    results = to_sarif(findings)["runs"][0]["results"]
    by_rule = {result["ruleId"]: result for result in results}
    properties = by_rule["AUD002"]["properties"]
    assert (properties["family"], properties["severity"]) == (
        "silent_failure",
        "critical",
    )
    # The finding's reason goes along when the analyzer gave one.
    swallowed = next(f for f in findings if f.code == "AUD002")
    assert properties.get("reason", "") == swallowed.reason
    assert by_rule["AUD002"]["level"] == "error"
    assert by_rule["AUD102"]["properties"]["family"] == "hardcoded_config"
    assert by_rule["AUD101"]["level"] == "warning"
    assert [r["partialFingerprints"][SARIF_FINGERPRINT_KEY] for r in results] == [
        f.fingerprint for f in findings
    ]
    region = by_rule["AUD102"]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (3, 11)


def test_to_sarif__false_positive_is_suppressed(findings: list[Finding]) -> None:
    triage = {findings[0].fingerprint: Triage("false_positive", "schema id")}
    results = to_sarif(findings, triage=triage)["runs"][0]["results"]
    assert results[0]["suppressions"][0]["justification"] == "schema id"
    assert "suppressions" not in results[1]


def test_to_sarif__reports_file_errors_and_empty_runs() -> None:
    error = FileError("bad.py", FileErrorKind.SYNTAX, "line 1: invalid syntax")
    document = to_sarif([], errors=[error])
    jsonschema.validate(document, SARIF_REQUIRED)
    notes = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == "syntax: line 1: invalid syntax"
    assert document["runs"][0]["results"] == []


def test_to_json__summary_findings_and_triage(findings: list[Finding]) -> None:
    triage = {findings[0].fingerprint: Triage("acknowledged", "later")}
    document = json.loads(dumps(to_json(findings, meta={"run": 7}, triage=triage)))
    assert document["meta"] == {"run": 7}
    assert document["summary"]["total"] == 3
    assert document["summary"]["by_severity"] == {
        "critical": 1,
        "high": 0,
        "medium": 2,
        "low": 0,
    }
    assert document["findings"][0]["status"] == "acknowledged"
    assert "status" not in document["findings"][1]


def test_to_markdown__escapes_cells_and_lists_findings(
    findings: list[Finding],
) -> None:
    text = to_markdown(findings, title="Run | 1")
    assert text.startswith("# Run \\| 1\n")
    assert "### critical\n\n#### `pkg/mod.py:9` AUD002 broad-except-swallowed" in text
    assert "| AUD102 | hardcoded-host | 1 |" in text


def test_to_text__summary_table(findings: list[Finding]) -> None:
    error = FileError("bad.py", FileErrorKind.BINARY, "file contains NUL bytes")
    text = to_text(findings, files_scanned=2, errors=[error])
    assert text.splitlines()[0] == "Scanned 2 files: 3 findings, 1 files not analyzed."
    assert "AUD101   getenv-literal-default" in text
    assert "bad.py: binary: file contains NUL bytes" in text
