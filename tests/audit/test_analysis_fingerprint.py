"""Fingerprints keep a finding's identity when unrelated code moves."""

from audit.analysis import analyze_source
from audit.analysis.findings import fingerprint

SOURCE = b"""\
import requests


def fetch(url):
    try:
        return requests.get(url, timeout=30)
    except Exception:
        pass


def fetch_twice(url):
    requests.get(url, timeout=30)
    requests.get(url, timeout=30)
"""


def fingerprints(source: bytes) -> list[tuple[str, str]]:
    """Return (code, fingerprint) of each finding, in order."""
    result = analyze_source(source, "pkg/client.py")
    return [(f.code, f.fingerprint) for f in result.findings]


def test_fingerprint__stable_when_lines_inserted_above() -> None:
    moved = b"import os\n\n\nCOMMENT = 1\n# a new comment\n" + SOURCE
    before = fingerprints(SOURCE)
    assert len(before) == 4
    assert fingerprints(moved) == before
    lines_before = [f.line for f in analyze_source(SOURCE, "pkg/client.py").findings]
    lines_after = [f.line for f in analyze_source(moved, "pkg/client.py").findings]
    assert lines_after == [line + 5 for line in lines_before]


def test_fingerprint__identical_lines_in_one_scope_differ() -> None:
    found = fingerprints(SOURCE)
    assert len({fingerprint for _, fingerprint in found}) == len(found)


def test_fingerprint__changes_with_path_and_code_text() -> None:
    other_path = analyze_source(SOURCE, "pkg/other.py").findings
    edited = analyze_source(
        SOURCE.replace(b"timeout=30", b"timeout=31"), "pkg/client.py"
    )
    original = {fingerprint for _, fingerprint in fingerprints(SOURCE)}
    assert original.isdisjoint(f.fingerprint for f in other_path)
    assert [f.fingerprint in original for f in edited.findings] == [
        False,
        True,
        False,
        False,
    ]


# Fingerprints of SOURCE's findings as the analyzer computed them before secrets
# were masked: triage decisions follow these, so they must not move.
FINGERPRINTS_BEFORE_MASKING = [
    ("AUD104", "d454de1f58c4cc28a9446697ec3da8791e8e0bad9cf7e789e69c33da41a895c5"),
    ("AUD002", "3c67c431f631e8e17818b8eef2b8b5c67f308180b94a4ed1fd68813b65ef32d0"),
    ("AUD104", "b93089d1fdc95af77d9cf071084bb761c38ab0711ceb4fe856aadef353a4eedb"),
    ("AUD104", "61e99442d934d028582502177be12e9d001121abf6e60994533cca218684826f"),
]

SECRET_SOURCE = b"""\
def connect(db):
    return db.connect(password="Pa55w0rd-2024-spring")
"""


def test_fingerprint__unchanged_for_findings_without_secrets() -> None:
    assert fingerprints(SOURCE) == FINGERPRINTS_BEFORE_MASKING


def test_fingerprint__of_a_secret_is_the_hash_of_its_masked_snippet() -> None:
    """No hash of the literal itself: with 4 characters and the length shown, a
    hash of a short password could be brute-forced offline."""
    (finding,) = analyze_source(SECRET_SOURCE, "pkg/client.py").findings
    assert finding.snippet == 'return db.connect(password="Pa55… (20 chars)")'
    assert finding.fingerprint == fingerprint(
        "AUD105", "pkg/client.py", "connect", finding.snippet, 0
    )
    assert fingerprints(SECRET_SOURCE) == [("AUD105", finding.fingerprint)]


def test_fingerprint__of_a_secret_follows_what_is_shown_of_it() -> None:
    (same,) = fingerprints(SECRET_SOURCE.replace(b"spring", b"autumn"))
    (other,) = fingerprints(SECRET_SOURCE.replace(b"Pa55", b"Pa66"))
    (original,) = fingerprints(SECRET_SOURCE)
    assert same == original
    assert other != original
