"""The prefilter changes nothing but speed: the same findings with and without it.

This is the guard of analysis/prefilter.py's trigger list: a rule that fires on
a word or a literal the list lacks makes one of these comparisons fail.
"""

from collections.abc import Iterable
from pathlib import Path

import django
import pytest

from audit.analysis import cache, prefilter
from audit.analysis.analyzer import FileOptions, analyze_source
from audit.analysis.discovery import ScanOptions, discover, is_config_module
from audit.analysis.prefilter import Triggers
from benchmarks.audit_corpus import DEFAULT_CACHE, fetch, projects

ROOT = Path(__file__).resolve().parents[2]
OWN_CODE = ("controlplane", "bus", "audit", "benchmarks", "scripts")
SAMPLES = Path(__file__).parent / "samples"


def _compare(files: Iterable[tuple[Path, str]], *, both_roles: bool = False) -> int:
    """Assert identical results for each (file, reported path); return the findings.

    both_roles also analyzes every file as a config module, where constants
    are exempt and only secrets are reported.
    """
    findings = 0
    for file, path in files:
        data = file.read_bytes()
        roles = (False, True) if both_roles else (is_config_module(path),)
        for config_module in roles:
            options = FileOptions(config_module=config_module)
            whole = analyze_source(data, path, options, prefilter=False)
            filtered = analyze_source(data, path, options)
            assert filtered == whole, path
            findings += len(whole.findings)
    return findings


def _tree(root: Path, *, tests: bool = False) -> list[tuple[Path, str]]:
    options = ScanOptions(include_tests=tests)
    return [(Path(s.absolute), s.path) for s in discover([root], options)]


def test_prefilter__same_findings_on_django() -> None:
    """Django's installed tree, the tree the speed target is measured on."""
    assert _compare(_tree(Path(django.__file__).parent)) > 0


def test_prefilter__same_findings_on_the_real_code_corpus() -> None:
    """Every Python file of the pinned sdists that the quality scoring uses."""
    files = []
    for project in projects():
        try:
            root = fetch(project, DEFAULT_CACHE)
        except RuntimeError as exc:
            pytest.skip(f"real-code corpus unavailable (no cache, no index): {exc}")
        files += _tree(root, tests=True)
    assert _compare(files) > 0


def test_prefilter__same_findings_on_our_code_and_the_samples() -> None:
    """This project's packages (tests included) and every labeled sample."""
    files = [item for name in OWN_CODE for item in _tree(ROOT / name, tests=True)]
    files += [(path, path.name) for path in sorted(SAMPLES.glob("*.py"))]
    assert _compare(files, both_roles=True) > 0


@pytest.mark.parametrize(
    ("source", "code"),
    [
        # Python joins the two literals: neither says `localhost` alone.
        ('def f():\n    url = "local" "host"\n    return url\n', "AUD102"),
        ('def f():\n    x = ("http:/"  # split\n        "/example.org/")\n', "AUD102"),
        # An escape spells the `l`.
        ('def f():\n    return connect("\\x6cocalhost")\n', "AUD102"),
        # Identifiers are NFKC-normalized: the fullwidth name is `timeout`.
        ("def f():\n    g(\uff54\uff49\uff4d\uff45\uff4f\uff55\uff54=30)\n", "AUD104"),
        # Case-insensitive matching reads a dotless i as an i.
        ("def f():\n    g(t\u0131meout=30)\n", "AUD104"),
        # Lines broken by lone carriage returns, as the parser counts them.
        ('import os\r\rdef f():\r    return os.getenv("X", "1")\r', "AUD101"),
        # The caller says no trigger word: the error-returning callee does.
        (
            "class C:\n"
            "    def _send(self, data):\n"
            "        try:\n"
            "            return self.sock.send(data)\n"
            "        except OSError:\n"
            "            return None\n"
            "\n"
            "    def go(self):\n"
            "        self._send(1)\n",
            "AUD009",
        ),
    ],
)
def test_prefilter__sees_through_what_hides_a_trigger(source: str, code: str) -> None:
    data = source.encode()
    whole = analyze_source(data, "m.py", prefilter=False)
    assert code in {finding.code for finding in whole.findings}
    assert analyze_source(data, "m.py") == whole


def test_prefilter__a_statement_without_trigger_is_not_entered() -> None:
    source = "def plain(x):\n    return x + 1\n\ndef waits():\n    sleep(30)\n"
    triggers = Triggers(source)
    assert triggers.lines == [5]


def test_prefilter__a_broken_file_is_still_an_error() -> None:
    """The whole file is parsed: a syntax error where no trigger is still shows."""
    result = analyze_source(b"def f(:\n    pass\n", "broken.py")
    assert result.error is not None and result.error.message.startswith("line 1")


def test_cache_key__covers_the_prefilter_source() -> None:
    """The cache is keyed by every module of the analysis package, this one too."""
    assert Path(prefilter.__file__).parent == cache._PACKAGE
