"""Reports a fixer uses: order, where and why, and SARIF that the schema accepts."""

import dataclasses
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import jsonschema
import pytest

from audit.analysis import Finding, Severity, scan
from audit.analysis.exports import (
    README,
    SRCROOT,
    Triage,
    dumps,
    help_uris,
    to_markdown,
    to_sarif,
    to_text,
)
from audit.analysis.rules import RULES, RULES_BY_CODE

# The official OASIS SARIF 2.1.0 schema (errata 01), vendored unchanged from
# the oasis-tcs/sarif-spec repository, sarif-2.1/schema/sarif-schema-2.1.0.json.
SCHEMA_PATH = Path(__file__).with_name("sarif-schema-2.1.0.json")

SOURCE = b"""\
import os


def load(client):
    try:
        return client.get("https://api.acme.io/v1", timeout=30)
    except Exception:
        pass


def port():
    return os.getenv("PORT", "8080")
"""


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema, format_checker=validator.FORMAT_CHECKER)


def finding(
    code: str, severity: Severity, path: str, line: int, snippet: str
) -> Finding:
    """A finding as the analyzer makes it, with a function and a reason."""
    rule = RULES_BY_CODE[code]
    return Finding(
        code=code,
        family=rule.family,
        severity=severity,
        path=path,
        line=line,
        column=5,
        end_line=line + snippet.count("\n"),
        snippet=snippet,
        message=rule.message,
        fix_hint=rule.fix_hint,
        fingerprint=f"{code}-{path}-{line}",
        function=f"Client.load_{line}",
        reason=f"why {code} at {path}:{line} matters",
    )


@pytest.fixture
def findings() -> list[Finding]:
    """Findings of two files in file order: b.py's critical one comes last."""
    swallowed = "except Exception:\n    pass"
    critical, medium, low = Severity.CRITICAL, Severity.MEDIUM, Severity.LOW
    return [
        finding("AUD102", medium, "a.py", 6, 'client.get("https://api.acme.io/v1")'),
        finding("AUD002", critical, "a.py", 7, swallowed),
        finding("AUD106", low, "a.py", 9, 'open("/etc/acme.conf")'),
        finding("AUD102", medium, "b.py", 2, 'URL = "https://api.acme.io/v1"'),
        finding("AUD002", critical, "b.py", 7, swallowed),
    ]


# Most severe first, then by file and line.
ORDER = ["a.py:7", "b.py:7", "a.py:6", "b.py:2", "a.py:9"]


def order_in(text: str, findings: list[Finding]) -> list[str]:
    """Return path:line of findings in the order text mentions them."""
    places = {f"{f.path}:{f.line}": text.index(f"{f.path}:{f.line}") for f in findings}
    return sorted(places, key=places.__getitem__)


def test_markdown__by_severity_then_file_with_snippet_function_reason(
    findings: list[Finding],
) -> None:
    text = to_markdown(findings, title="run")
    assert order_in(text, findings) == ORDER
    assert text.index("### critical") < text.index("### medium")
    critical = next(f for f in findings if f.code == "AUD002")
    section = text.split(f"`{critical.path}:{critical.line}`", 1)[1].split("####")[0]
    assert f"in `{critical.function}`" in section
    assert f"Why it matters: {critical.reason}" in section
    assert "```python\nexcept Exception:\n    pass\n```" in section
    assert "Status: open" in section


def test_markdown__fence_outlasts_backticks_in_a_snippet(
    findings: list[Finding],
) -> None:
    tricky = dataclasses.replace(findings[0], snippet="x = '```'")
    text = to_markdown([tricky], title="run")
    assert "````python\nx = '```'\n````" in text


def test_text__lists_findings_by_severity_with_triage(findings: list[Finding]) -> None:
    critical = next(f for f in findings if f.code == "AUD002")
    triage = {critical.fingerprint: Triage("acknowledged", "next sprint")}
    text = to_text(findings, files_scanned=2, errors=[], triage=triage)
    listed = text.split("findings, most severe first:", 1)[1]
    assert order_in(listed, findings) == ORDER
    block = listed.split("a.py:7:5", 1)[1].split("\n\n", 1)[0]
    assert f"AUD002 broad-except-swallowed  in {critical.function}" in block
    assert f"why: {critical.reason}" in block
    assert "    | except Exception:\n    |     pass" in block
    assert "status: acknowledged: next sprint" in block


def test_text__summary_alone_without_listing(findings: list[Finding]) -> None:
    text = to_text(findings, files_scanned=2, errors=[], listing=False)
    assert "most severe first" not in text
    assert text.startswith("Scanned 2 files: 5 findings")


def test_sarif__passes_the_official_schema(
    findings: list[Finding], sarif_validator: jsonschema.protocols.Validator
) -> None:
    triage = {findings[0].fingerprint: Triage("false_positive", "a probe")}
    document = json.loads(dumps(to_sarif(findings, root="/src/proj", triage=triage)))
    sarif_validator.validate(document)
    empty = json.loads(dumps(to_sarif([], root="/src/proj")))
    sarif_validator.validate(empty)
    result = document["runs"][0]["results"][0]
    assert result["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": findings[0].function}
    ]
    assert result["properties"]["reason"] == findings[0].reason


def test_sarif__maps_results_of_one_file_scanned_from_anywhere(
    tmp_path: Path, sarif_validator: jsonschema.protocols.Validator
) -> None:
    """Scanning one file outside the repository still resolves to that file."""
    folder = tmp_path / "some where"
    folder.mkdir()
    module = folder / "mod.py"
    module.write_bytes(SOURCE)
    result = scan([str(module)], jobs=1)
    document = json.loads(dumps(to_sarif(result.findings, root=result.root)))
    sarif_validator.validate(document)
    run = document["runs"][0]
    base = run["originalUriBaseIds"][SRCROOT]["uri"]
    assert base.endswith("/") and base.startswith("file:///")
    for sarif_result in run["results"]:
        location = sarif_result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location["uriBaseId"] == SRCROOT
        resolved = Path(unquote(urlparse(base + location["uri"]).path))
        assert resolved == module


def readme_anchors() -> set[str]:
    """Return the anchors GitHub makes of the README's headings."""
    headings = re.findall(r"^#{1,6} (.+)$", README.read_text(), re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in headings
    }


def test_sarif__every_rule_links_to_its_readme_section() -> None:
    uris = help_uris()
    assert set(uris) == {rule.code for rule in RULES}
    anchors = readme_anchors()
    for code, uri in uris.items():
        parsed = urlparse(uri)
        assert Path(unquote(parsed.path)) == README
        assert parsed.fragment in anchors, code
        assert parsed.fragment.startswith(code.lower())


def test_sarif__rules_carry_help_uri(findings: list[Finding]) -> None:
    rules = to_sarif(findings)["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["helpUri"] for rule in rules] == [
        help_uris()[rule["id"]] for rule in rules
    ]


def test_reports__module_level_findings_name_no_function(
    findings: list[Finding],
) -> None:
    module_level = [dataclasses.replace(f, function="<module>") for f in findings]
    text = to_text(module_level, files_scanned=2, errors=[])
    markdown = to_markdown(module_level, title="run")
    sarif = to_sarif(module_level)["runs"][0]["results"]
    assert "<module>" not in text + markdown
    assert all("logicalLocations" not in r["locations"][0] for r in sarif)
