"""Secret literals are stored and shown masked: first 4 characters and length."""

import json
from pathlib import Path

import pytest

from audit.analysis import Family, FileOptions, analyze_source
from audit.analysis.constants import SNIPPET_MAX_LINES
from audit.analysis.exports import dumps, to_json, to_markdown, to_sarif, to_text
from audit.analysis.masking import mask_secret
from tests.audit.corpus import (
    analyze,
    leaks,
    masked_marks,
    sample_id,
    sample_paths,
    secret_literal,
)

MASKED_SAMPLES = [path for path in sample_paths() if masked_marks(path)]


def _marked_secrets(path: Path) -> list[tuple[int, str, str]]:
    """Return (line, masked form, literal) of each marked secret of a sample."""
    return [
        (line, shown, secret_literal(path, line, shown))
        for line, shown in masked_marks(path)
    ]


def test_mask_secret__first_four_characters_and_length() -> None:
    assert mask_secret("sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEfGh") == "sk_l… (40 chars)"
    assert mask_secret("\n\tab-cdef") == "\\n\\tab… (9 chars)"


@pytest.mark.parametrize("path", MASKED_SAMPLES, ids=sample_id)
def test_analyzer__every_finding_quoting_a_marked_secret_shows_it_masked(
    path: Path,
) -> None:
    findings = analyze(path)
    for line, shown, secret in _marked_secrets(path):
        quoting = [
            finding
            for finding in findings
            if finding.line <= line <= finding.end_line
            and line < finding.line + SNIPPET_MAX_LINES
        ]
        assert quoting, line
        for finding in quoting:
            assert f'"{shown}"' in finding.snippet, finding
            assert not leaks(finding.snippet, secret), finding
            assert not leaks(finding.message, secret), finding
        reported = [f for f in quoting if f.code == "AUD105" and f.line == line]
        assert [f.message.rsplit(": ", 1)[1] for f in reported] in ([shown], [])


def test_corpus__every_secret_finding_has_a_masked_marker() -> None:
    """A new secret sample must say how it is shown, or this test fails."""
    for path in sample_paths():
        marked = {line for line, _ in masked_marks(path)}
        for finding in analyze(path):
            if finding.code == "AUD105":
                assert finding.line in marked, (sample_id(path), finding.line)


def test_exports__show_secrets_masked_in_every_format() -> None:
    findings = [finding for path in MASKED_SAMPLES for finding in analyze(path)]
    secrets = [
        secret for path in MASKED_SAMPLES for _, _, secret in _marked_secrets(path)
    ]
    json_document = to_json(findings)
    sarif_document = to_sarif(findings)
    documents = {
        "text": to_text(findings, files_scanned=len(MASKED_SAMPLES), errors=()),
        "json": json.dumps(json_document, ensure_ascii=False),
        "json-file": dumps(json_document),
        "sarif": json.dumps(sarif_document, ensure_ascii=False),
        "sarif-file": dumps(sarif_document),
        "markdown": to_markdown(findings, title="secrets"),
    }
    for name, document in documents.items():
        for secret in secrets:
            assert not leaks(document, secret), (name, secret)
    reported = [f for f in findings if f.code == "AUD105"]
    assert len(reported) == 10
    for finding in reported:
        shown = finding.message.rsplit(": ", 1)[1]
        assert finding.message in documents["markdown"]
        assert f'"{shown}"' in finding.snippet
    results = sarif_document["runs"][0]["results"]
    assert [
        r["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
        for r in results
    ] == [f.snippet for f in findings]
    assert [r["message"]["text"] for r in results] == [
        f"{f.message}. {f.reason or f.fix_hint}" for f in findings
    ]


def test_analyzer__masks_secrets_in_snippets_of_other_families_alone() -> None:
    """A silent-failure-only scan still masks a secret its snippet quotes."""
    source = b"""\
def connect(db):
    try:
        return db.connect()
    except Exception:
        db.connect(password="Fallback-Pa55w0rd")
        return None
"""
    silent_only = FileOptions(families=frozenset({Family.SILENT_FAILURE}))
    (finding,) = analyze_source(source, "app.py", silent_only).findings
    assert finding.code == "AUD003"
    assert 'password="Fall… (17 chars)"' in finding.snippet
    assert not leaks(finding.snippet, "Fallback-Pa55w0rd")
