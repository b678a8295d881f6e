"""Find the Python files to scan and classify them (config module, test code)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from audit.analysis.constants import CONFIG_MODULE_NAMES, SKIPPED_DIRS


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Which files to scan and how to classify them."""

    excludes: tuple[str, ...] = ()
    config_modules: tuple[str, ...] = ()
    include_tests: bool = False


DEFAULT_SCAN_OPTIONS = ScanOptions()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to analyze: absolute location, path relative to the root, its role."""

    absolute: str
    path: str
    config_module: bool


def scan_root(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """Return the directory that scanned paths are reported relative to.

    It is the common parent of the inputs, so scanning `pkg` reports `pkg/mod.py`.
    """
    parents = [str(Path(path).resolve().parent) for path in paths]
    return Path(os.path.commonpath(parents))


def is_test_path(path: str) -> bool:
    """Return True for files under tests/ and test_*.py, *_test.py, conftest.py."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    return (
        "tests" in parts[:-1]
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def is_config_module(path: str, extra_globs: Sequence[str] = ()) -> bool:
    """Return True for settings/config/conf/constants modules or packages."""
    posix = PurePosixPath(path)
    if posix.stem in CONFIG_MODULE_NAMES or any(
        part in CONFIG_MODULE_NAMES for part in posix.parts[:-1]
    ):
        return True
    return any(fnmatch(path, pattern) for pattern in extra_globs)


def _excluded(path: str, excludes: Sequence[str]) -> bool:
    """Return True when the relative path matches an exclude glob."""
    return any(
        fnmatch(path, pattern) or fnmatch(path + "/", pattern) for pattern in excludes
    )


def discover(
    paths: Sequence[str | os.PathLike[str]], options: ScanOptions = DEFAULT_SCAN_OPTIONS
) -> Iterator[SourceFile]:
    """Yield the Python files under paths, sorted, without excluded or test files.

    Raises FileNotFoundError when an input path does not exist.
    """
    root = scan_root(paths)
    for given in paths:
        start = Path(given).resolve()
        if not start.exists():
            raise FileNotFoundError(str(given))
        if start.is_file():
            candidates = [start]
        else:
            candidates = _walk(start, root, options.excludes)
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if _excluded(relative, options.excludes):
                continue
            if not options.include_tests and is_test_path(relative):
                continue
            yield SourceFile(
                absolute=str(candidate),
                path=relative,
                config_module=is_config_module(relative, options.config_modules),
            )


def _walk(start: Path, root: Path, excludes: Sequence[str]) -> list[Path]:
    """Return the sorted .py files under start, pruning skipped and excluded dirs."""
    found = []
    for directory, dirnames, filenames in os.walk(start):
        base = Path(directory)
        dirnames[:] = sorted(
            name
            for name in dirnames
            if name not in SKIPPED_DIRS
            and not _excluded((base / name).relative_to(root).as_posix(), excludes)
        )
        found.extend(base / name for name in sorted(filenames) if name.endswith(".py"))
    return found
