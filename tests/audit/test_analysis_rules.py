"""The analyzer reports exactly what the labeled sample corpus marks."""

from pathlib import Path

import pytest

from audit.analysis import RULES, Family, Severity
from tests.audit.corpus import analyze, labels, reported, sample_id, sample_paths

# The contract: every rule's family and severity, written down once.
SEVERITY_CONTRACT = {
    "AUD001": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD002": (Family.SILENT_FAILURE, Severity.CRITICAL),
    "AUD003": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD004": (Family.SILENT_FAILURE, Severity.CRITICAL),
    "AUD005": (Family.SILENT_FAILURE, Severity.MEDIUM),
    "AUD006": (Family.SILENT_FAILURE, Severity.LOW),
    "AUD007": (Family.SILENT_FAILURE, Severity.LOW),
    "AUD101": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD102": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD103": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD104": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD105": (Family.HARDCODED_CONFIG, Severity.CRITICAL),
    "AUD106": (Family.HARDCODED_CONFIG, Severity.LOW),
}


@pytest.mark.parametrize("path", sample_paths(), ids=sample_id)
def test_analyzer__matches_sample_markers(path: Path) -> None:
    """Findings equal the `expect` markers plus the known false positives."""
    marks = labels(path)
    assert reported(analyze(path)) == marks.expect + marks.false_positive


def test_corpus__is_large_enough_for_both_families() -> None:
    """The corpus has at least 40 files and positives for every rule."""
    paths = sample_paths()
    assert len(paths) >= 40
    codes = {code for path in paths for (_, code) in labels(path).expect}
    assert codes == {rule.code for rule in RULES}


def test_rules__severity_and_family_follow_the_contract() -> None:
    assert {r.code: (r.family, r.severity) for r in RULES} == SEVERITY_CONTRACT


def test_findings__carry_their_rule_severity_and_family() -> None:
    for path in sample_paths():
        for finding in analyze(path):
            assert (finding.family, finding.severity) == SEVERITY_CONTRACT[finding.code]


def test_rules__codes_unique_with_message_and_fix_hint() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert all(rule.message and rule.fix_hint and rule.name for rule in RULES)
