"""Find the Python files to scan and classify them (config module, test code)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

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
    directory, _, name = path.rpartition("/")
    return (
        "tests" in directory.split("/")
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def is_config_module(path: str, extra_globs: Sequence[str] = ()) -> bool:
    """Return True for settings/config/conf/constants modules or packages."""
    directory, _, name = path.rpartition("/")
    if name.removesuffix(
        ".py"
    ) in CONFIG_MODULE_NAMES or not CONFIG_MODULE_NAMES.isdisjoint(
        directory.split("/")
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
    root = str(scan_root(paths))
    prefix = len(root.rstrip(os.sep)) + 1
    # Overlapping inputs (`pkg pkg/sub`) name some files twice: scan each once.
    seen: set[str] = set()
    for given in paths:
        start = os.path.realpath(given)
        if not os.path.exists(start):
            raise FileNotFoundError(str(given))
        if os.path.isfile(start):
            candidates = [start]
        else:
            candidates = _walk(start, prefix, options.excludes)
        for candidate in candidates:
            if candidate in seen:
                continue
            seen.add(candidate)
            relative = candidate[prefix:].replace(os.sep, "/")
            if options.excludes and _excluded(relative, options.excludes):
                continue
            if not options.include_tests and is_test_path(relative):
                continue
            yield SourceFile(
                absolute=candidate,
                path=relative,
                config_module=is_config_module(relative, options.config_modules),
            )


def _walk(start: str, prefix: int, excludes: Sequence[str]) -> list[str]:
    """Return the sorted .py files under start, pruning skipped and excluded dirs."""
    found = []
    for directory, dirnames, filenames in os.walk(start):
        dirnames[:] = sorted(
            name
            for name in dirnames
            if name not in SKIPPED_DIRS
            and not (
                excludes and _excluded(os.path.join(directory, name)[prefix:], excludes)
            )
        )
        found.extend(
            os.path.join(directory, name)
            for name in sorted(filenames)
            if name.endswith(".py")
        )
    return found
