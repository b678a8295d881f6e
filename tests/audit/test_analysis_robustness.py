"""A file the analyzer cannot cope with is listed as not analyzed; the scan goes on."""

import warnings
from pathlib import Path

import pytest

from audit.analysis import FileErrorKind, analyze_source, scan

# Deep enough to exhaust the recursion of the literal checks, shallow enough for
# the parser: real code that breaks the analyzer, not a stand-in.
DEPTH = 400


def test_scan__analyzer_failure_on_one_file_keeps_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * DEPTH + "1" + "]" * DEPTH
    (tmp_path / "deep.py").write_text(f'import os\nx = os.getenv("A", {nested})\n')
    (tmp_path / "plain.py").write_text(
        "def f(job):\n    try:\n        job()\n    except Exception:\n        pass\n"
    )
    result = scan([tmp_path], jobs=1)
    assert result.files_scanned == 2
    (error,) = result.errors
    assert (error.path, error.kind) == (
        f"{tmp_path.name}/deep.py",
        FileErrorKind.INTERNAL,
    )
    assert error.message.startswith("analyzer error, please report it: RecursionError")
    assert [f.code for f in result.findings] == ["AUD002"]
    assert "The analyzer failed on" in caplog.text


def test_analyze__a_scanned_files_own_warnings_are_not_printed() -> None:
    """An invalid escape in scanned code is that code's, not a warning of ours."""
    source = b'import re\n\ndef split(text):\n    return re.split("\\*", text)\n'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analyze_source(source, "escapes.py")
    assert result.error is None
