"""The analyzer reports exactly what the labeled sample corpus marks."""

from pathlib import Path

import pytest

from audit.analysis import RULES, Family, Finding, Severity, analyze_source
from tests.audit.corpus import (
    SAMPLES,
    analyze,
    labels,
    reported,
    sample_id,
    sample_paths,
)

# The contract: every rule's family and baseline severity, written down once.
# A finding's own severity follows the impact rubric (README): raised to critical
# on a send/data/security path, lowered to low when only cleanup can fail.
SEVERITY_CONTRACT = {
    "AUD001": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD002": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD003": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD004": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD005": (Family.SILENT_FAILURE, Severity.MEDIUM),
    "AUD006": (Family.SILENT_FAILURE, Severity.LOW),
    "AUD007": (Family.SILENT_FAILURE, Severity.LOW),
    "AUD008": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD009": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD010": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD011": (Family.SILENT_FAILURE, Severity.HIGH),
    "AUD101": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD102": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD103": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD104": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD105": (Family.HARDCODED_CONFIG, Severity.CRITICAL),
    "AUD106": (Family.HARDCODED_CONFIG, Severity.LOW),
    "AUD107": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
    "AUD108": (Family.HARDCODED_CONFIG, Severity.MEDIUM),
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


def test_findings__carry_family_function_and_reason() -> None:
    for path in sample_paths():
        for finding in analyze(path):
            assert finding.family == SEVERITY_CONTRACT[finding.code][0]
            assert finding.function and finding.reason


def _only(guarded: str, handler: str = "pass") -> Finding:
    """Return the one finding of `def f(c): try: <guarded> except Exception: ...`."""
    source = (
        f"def f(c):\n    try:\n        {guarded}\n"
        f"    except Exception:\n        {handler}\n"
    )
    (finding,) = analyze_source(source.encode(), "app/x.py").findings
    return finding


def test_severity__follows_impact_of_the_guarded_code() -> None:
    """A send swallowed is critical, a close noted at debug low, the rest baseline.

    A close that only passes is no finding at all (best-effort cleanup).
    """
    send, other = _only("c.send(1)"), _only("c.run()")
    close = _only("c.close()", "log.debug('close failed')")
    debug_send = _only("c.send(1)", "log.debug('send failed')")
    assert (send.severity, close.severity, other.severity) == (
        Severity.CRITICAL,
        Severity.LOW,
        Severity.HIGH,
    )
    assert debug_send.code == "AUD005" and debug_send.severity is Severity.CRITICAL
    assert "`send()`" in send.reason and send.function == "f"


def test_suppress__severity_follows_the_block() -> None:
    """`suppress(Exception)` around a write is critical, around a close low."""
    source = (
        "from contextlib import suppress\n\n"
        "def f(stream, data):\n"
        "    with suppress(Exception):\n        stream.write(data)\n"
        "    with suppress(Exception):\n        stream.close()\n"
    )
    severities = [
        f.severity for f in analyze_source(source.encode(), "app/x.py").findings
    ]
    assert severities == [Severity.CRITICAL, Severity.LOW]


def test_ignored_helper__reason_names_the_helper() -> None:
    finding = next(f for f in analyze(SAMPLES / "sf_dropped.py") if f.code == "AUD009")
    assert finding.reason.startswith("the result of `_safe_send` is discarded")
    assert finding.function == "Hub.deliver"


def test_security_switch_off_by_default__is_critical() -> None:
    (finding,) = [
        f for f in analyze(SAMPLES / "hc_computed_defaults.py") if f.code == "AUD101"
    ]
    assert finding.severity is Severity.CRITICAL
    assert finding.reason.startswith("'AUTH_ENABLED' defaults to off")


def test_placeholder_secret__is_not_reported() -> None:
    codes = {f.code for f in analyze(SAMPLES / "hc_computed_defaults.py")}
    assert "AUD105" not in codes


def test_unreadable_file_overwritten__is_critical_and_says_the_content_is_lost() -> (
    None
):
    findings = [f for f in analyze(SAMPLES / "sf_overwrite.py") if f.code == "AUD007"]
    assert [f.function for f in findings] == ["update_history", "load_or_start"]
    assert {f.severity for f in findings} == {Severity.CRITICAL}
    assert all("its content is lost" in f.reason for f in findings)


def test_default_left_out_by_the_modules_own_instance__says_so() -> None:
    (finding,) = [f for f in analyze(SAMPLES / "hc_fallbacks.py") if f.code == "AUD108"]
    assert finding.function == "Collector.__init__"
    assert finding.snippet.startswith("def __init__(self, cache_timeout=60")
    assert "the calls in this module never pass it" in finding.reason


def test_swallowed_unregister__is_best_effort_cleanup_not_a_finding() -> None:
    """`except: pass` around `unregister_readable(fd)` loses nothing (RUBRIC.md)."""
    assert not [
        f for f in analyze(SAMPLES / "sf_followup.py") if f.function == "forget"
    ]


def test_newer_syntax__error_names_the_python_version() -> None:
    result = analyze_source(b"type Alias = int\n", "new.py")
    assert result.error is not None
    assert "valid Python 3.12" in result.error.message


def test_rules__codes_unique_with_message_and_fix_hint() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert all(rule.message and rule.fix_hint and rule.name for rule in RULES)


def test_close_of_what_the_function_wrote__is_critical() -> None:
    """Closing flushes: a swallowed failure there loses the data written."""
    (finding,) = [
        f for f in analyze(SAMPLES / "sf_context.py") if f.function == "save_report"
    ]
    assert finding.severity is Severity.CRITICAL
    assert "loses the data written" in finding.reason


def test_local_timeout__is_reported_where_it_is_bound() -> None:
    (finding,) = [f for f in analyze(SAMPLES / "hc_context.py") if f.code == "AUD104"]
    assert finding.function == "read_banner"
    assert finding.snippet.strip().startswith("timeout = 2")
