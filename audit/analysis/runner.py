"""Scan many files, in parallel across cores, keeping only finding records."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from audit.analysis.analyzer import ALL_FAMILIES, FileOptions, analyze_source
from audit.analysis.constants import PARALLEL_CHUNK_SIZE, PARALLEL_MIN_FILES
from audit.analysis.discovery import (
    DEFAULT_SCAN_OPTIONS,
    ScanOptions,
    SourceFile,
    discover,
    scan_root,
)
from audit.analysis.records import (
    Family,
    FileError,
    FileErrorKind,
    FileResult,
    ScanResult,
)

logger = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]
_Task = tuple[str, str, FileOptions]


def analyze_file(task: _Task) -> FileResult:
    """Read and analyze one file; an unreadable file becomes a file error."""
    absolute, path, options = task
    try:
        with open(absolute, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        error = FileError(path, FileErrorKind.UNREADABLE, exc.strerror or str(exc))
        return FileResult(path=path, error=error)
    try:
        return analyze_source(data, path, options)
    except Exception as exc:
        # The per-file boundary: a bug of the analyzer on one file must not lose
        # the scan of all the others; it is logged with its traceback and the
        # file is listed as not analyzed, naming the error.
        logger.exception("The analyzer failed on %s", path)
        message = f"analyzer error, please report it: {type(exc).__name__}: {exc}"
        return FileResult(
            path=path, error=FileError(path, FileErrorKind.INTERNAL, message)
        )


def _results(tasks: list[_Task], jobs: int) -> Iterator[FileResult]:
    """Yield file results in task order, from a worker pool when it pays off.

    Workers return finding records only; every AST stays inside its worker.
    """
    if jobs <= 1 or len(tasks) < PARALLEL_MIN_FILES:
        yield from map(analyze_file, tasks)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(analyze_file, tasks, chunksize=PARALLEL_CHUNK_SIZE)


def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    families: Iterable[Family] = ALL_FAMILIES,
    options: ScanOptions = DEFAULT_SCAN_OPTIONS,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> ScanResult:
    """Scan the Python files under paths and return findings and file errors.

    Raises FileNotFoundError when an input path does not exist.
    """
    enabled = frozenset(families)
    files: list[SourceFile] = list(discover(paths, options))
    tasks = [
        (
            source.absolute,
            source.path,
            FileOptions(families=enabled, config_module=source.config_module),
        )
        for source in files
    ]
    result = ScanResult(root=str(scan_root(paths)))
    total = len(tasks)
    for done, file_result in enumerate(_results(tasks, jobs or os.cpu_count() or 1), 1):
        result.files_scanned += 1
        result.findings.extend(file_result.findings)
        if file_result.error is not None:
            result.errors.append(file_result.error)
        if progress is not None:
            progress(done, total)
    return result
