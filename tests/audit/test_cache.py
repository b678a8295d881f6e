"""--cache-dir: unchanged files are not analyzed again, changed ones are."""

import logging
from pathlib import Path

import pytest

from audit.analysis import Family, scan
from audit.analysis.cache import ResultCache
from audit.analysis.constants import PARALLEL_MIN_FILES

SOURCE = """\
def load(client):
    try:
        return client.get("https://api.acme.io/v1")
    except Exception:
        pass
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    for number in range(3):
        (package / f"m{number}.py").write_text(SOURCE)
    (package / "broken.py").write_text("def broken(:\n")
    return package


def test_cache__second_scan_reuses_every_unchanged_file(
    tree: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = scan([str(tree)], jobs=1, cache_dir=cache)
    again = scan([str(tree)], jobs=1, cache_dir=cache)
    assert (first.files_cached, again.files_cached) == (0, 4)
    assert again.findings == first.findings
    assert again.errors == first.errors
    assert again.file_hashes == first.file_hashes
    assert [path.suffix for path in cache.iterdir()] == [".json"]


def test_cache__changed_and_new_files_are_analyzed_again(
    tree: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    scan([str(tree)], jobs=1, cache_dir=cache)
    (tree / "m0.py").write_text(SOURCE.replace("pass", "return None"))
    (tree / "m9.py").write_text("x = 1\n")
    (tree / "m2.py").unlink()
    later = scan([str(tree)], jobs=1, cache_dir=cache)
    uncached = scan([str(tree)], jobs=1)
    assert later.files_cached == 2  # m1.py and broken.py
    assert later.findings == uncached.findings
    assert later.file_hashes == uncached.file_hashes


def test_cache__other_options_do_not_share_results(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    scan([str(tree)], jobs=1, cache_dir=cache)
    silent = scan(
        [str(tree)], jobs=1, cache_dir=cache, families=[Family.SILENT_FAILURE]
    )
    assert silent.files_cached == 0
    assert {f.code for f in silent.findings} == {"AUD002"}


def test_cache__a_corrupt_cache_is_rebuilt_with_a_warning(
    tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    expected = scan([str(tree)], jobs=1, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    cache_file.write_text('{"truncated": ')
    with caplog.at_level(logging.WARNING, logger="audit.analysis.cache"):
        rebuilt = scan([str(tree)], jobs=1, cache_dir=cache)
    assert rebuilt.files_cached == 0
    assert rebuilt.findings == expected.findings
    assert "is unreadable, rebuilding" in caplog.text
    assert scan([str(tree)], jobs=1, cache_dir=cache).files_cached == 4


def test_cache__a_malformed_entry_is_analyzed_again(
    tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    expected = scan([str(tree)], jobs=1, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    cache_file.write_text(
        cache_file.read_text().replace('"severity": "critical"', '"severity": "dire"')
    )
    with caplog.at_level(logging.WARNING, logger="audit.analysis.cache"):
        again = scan([str(tree)], jobs=1, cache_dir=cache)
    assert again.findings == expected.findings
    assert again.files_cached == 1  # broken.py has no finding to spoil
    assert "malformed" in caplog.text


def test_cache__keyed_by_the_analyzer_source(tmp_path: Path) -> None:
    first = ResultCache(tmp_path, "scope")
    assert first.file == ResultCache(tmp_path, "scope").file
    assert first.file != ResultCache(tmp_path, "other scope").file


def test_cache__works_with_the_worker_pool(tmp_path: Path) -> None:
    package = tmp_path / "many"
    package.mkdir()
    for number in range(PARALLEL_MIN_FILES + 6):
        (package / f"m{number:03}.py").write_text(SOURCE)
    cache = tmp_path / "cache"
    scan([str(package)], jobs=2, cache_dir=cache)
    for number in range(0, PARALLEL_MIN_FILES + 6, 2):
        (package / f"m{number:03}.py").write_text("\n" + SOURCE)
    later = scan([str(package)], jobs=2, cache_dir=cache)
    assert later.files_cached == (PARALLEL_MIN_FILES + 6) // 2
    assert later.findings == scan([str(package)], jobs=1).findings
