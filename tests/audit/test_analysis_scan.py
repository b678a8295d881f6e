"""Scanning trees: discovery, excludes, test skipping, file errors, parallelism."""

from pathlib import Path

import pytest

from audit.analysis import (
    Family,
    FileErrorKind,
    FileOptions,
    ScanOptions,
    analyze_source,
    scan,
)
from audit.analysis.constants import PARALLEL_MIN_FILES
from audit.analysis.discovery import is_config_module, is_test_path

SILENT = "def f():\n    try:\n        g()\n    except Exception:\n        pass\n"
HOST = 'URL = "https://api.acme.io"\n'


def write(root: Path, relative: str, content: str | bytes) -> Path:
    """Write a file under root, creating directories."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project with app code, tests, a config module and broken files."""
    root = tmp_path / "proj"
    write(root, "app/views.py", SILENT + HOST)
    write(root, "app/settings.py", HOST)
    write(root, "app/tests/test_views.py", SILENT)
    write(root, "app/conftest.py", SILENT)
    write(root, "app/generated/models_pb2.py", SILENT)
    write(root, "app/broken.py", "def f(:\n")
    write(root, "app/binary.py", b"\x00\x01\x02")
    write(root, "app/latin.py", b"x = '\xe9'\n")
    write(root, "app/__pycache__/views.cpython-311.py", SILENT)
    write(root, "app/notes.txt", SILENT)
    return root


def test_scan__paths_relative_to_parent_of_input(tree: Path) -> None:
    result = scan([tree / "app"], jobs=1)
    assert result.root == str(tree)
    paths = {f.path for f in result.findings}
    assert paths == {"app/views.py", "app/generated/models_pb2.py"}


def test_scan__unparseable_files_are_errors_and_scan_continues(tree: Path) -> None:
    result = scan([tree], jobs=1)
    kinds = {error.path: error.kind for error in result.errors}
    assert kinds == {
        "proj/app/broken.py": FileErrorKind.SYNTAX,
        "proj/app/binary.py": FileErrorKind.BINARY,
        "proj/app/latin.py": FileErrorKind.ENCODING,
    }
    assert result.files_scanned == 6
    assert {f.code for f in result.findings} == {"AUD002", "AUD102"}


def test_scan__excludes_and_tests(tree: Path) -> None:
    options = ScanOptions(excludes=("*/generated",), include_tests=True)
    result = scan([tree / "app"], options=options, jobs=1)
    paths = {f.path for f in result.findings}
    assert paths == {"app/views.py", "app/tests/test_views.py", "app/conftest.py"}


def test_scan__config_module_glob_exempts_constants(tree: Path) -> None:
    write(tree, "app/knobs.py", HOST)
    plain = scan([tree / "app/knobs.py"], jobs=1)
    as_config = scan(
        [tree / "app/knobs.py"], options=ScanOptions(config_modules=("*knobs.py",))
    )
    assert [f.code for f in plain.findings] == ["AUD102"]
    assert as_config.findings == []


def test_scan__families_filter(tree: Path) -> None:
    result = scan([tree / "app/views.py"], families=[Family.HARDCODED_CONFIG])
    assert [f.code for f in result.findings] == ["AUD102"]


def test_scan__missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan([tmp_path / "nope"])


def test_scan__parallel_equals_serial_and_reports_progress(tmp_path: Path) -> None:
    for number in range(PARALLEL_MIN_FILES + 5):
        write(tmp_path / "big", f"mod_{number:03}.py", SILENT + HOST)
    calls: list[tuple[int, int]] = []
    parallel = scan(
        [tmp_path / "big"], jobs=2, progress=lambda d, t: calls.append((d, t))
    )
    serial = scan([tmp_path / "big"], jobs=1)
    assert parallel.findings == serial.findings
    assert len(parallel.findings) == 2 * (PARALLEL_MIN_FILES + 5)
    assert calls[-1] == (PARALLEL_MIN_FILES + 5, PARALLEL_MIN_FILES + 5)
    assert len(calls) == PARALLEL_MIN_FILES + 5


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_x.py", True),
        ("pkg/tests/helpers.py", True),
        ("pkg/test_x.py", True),
        ("pkg/x_test.py", True),
        ("conftest.py", True),
        ("django/test/client.py", False),
        ("pkg/testing.py", False),
    ],
)
def test_is_test_path__tests_dirs_and_file_patterns(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("proj/settings.py", True),
        ("proj/settings/prod.py", True),
        ("proj/conf/defaults.py", True),
        ("proj/constants.py", True),
        ("proj/config.py", True),
        ("proj/configure.py", False),
        ("proj/views.py", False),
    ],
)
def test_is_config_module__names_and_packages(path: str, expected: bool) -> None:
    assert is_config_module(path) is expected


def test_analyze_source__families_are_independent() -> None:
    """Each family alone reports exactly its own share of the findings."""
    source = (
        b"from contextlib import suppress\n"
        b"with suppress(Exception):\n"
        b"    call(timeout=5)\n"
    )
    both = analyze_source(source, "m.py").findings
    silent_only = analyze_source(
        source, "m.py", FileOptions(families=frozenset({Family.SILENT_FAILURE}))
    ).findings
    config_only = analyze_source(
        source, "m.py", FileOptions(families=frozenset({Family.HARDCODED_CONFIG}))
    ).findings
    assert [f.code for f in both] == ["AUD004", "AUD104"]
    assert [f.code for f in silent_only] == ["AUD004"]
    assert [f.code for f in config_only] == ["AUD104"]
