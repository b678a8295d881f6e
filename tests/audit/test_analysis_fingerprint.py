"""Fingerprints keep a finding's identity when unrelated code moves."""

from audit.analysis import analyze_source

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
