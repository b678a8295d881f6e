"""Scan many files, in parallel across cores, keeping only finding records."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

from audit.analysis.analyzer import ALL_FAMILIES, FileOptions, analyze_source
from audit.analysis.cache import ResultCache
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
    """Read and analyze one file; an unreadable file becomes a file error.

    The result carries the SHA-256 of the bytes analyzed, so the file view can
    tell when the file changed after the scan.
    """
    absolute, path, options = task
    try:
        with open(absolute, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        error = FileError(path, FileErrorKind.UNREADABLE, exc.strerror or str(exc))
        return FileResult(path=path, error=error)
    # An AST holds no reference cycles and is freed by reference counting, so the
    # cyclic collector only burns time on its many allocations (about 10 % of a
    # scan, benchmarks/README.md): it is paused while one file is analyzed.
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = analyze_source(data, path, options)
    except Exception as exc:
        # The per-file boundary: a bug of the analyzer on one file must not lose
        # the scan of all the others; it is logged with its traceback and the
        # file is listed as not analyzed, naming the error.
        logger.exception("The analyzer failed on %s", path)
        message = f"analyzer error, please report it: {type(exc).__name__}: {exc}"
        return FileResult(
            path=path, error=FileError(path, FileErrorKind.INTERNAL, message)
        )
    finally:
        if collecting:
            gc.enable()
    return dataclasses.replace(result, sha256=hashlib.sha256(data).hexdigest())


def _results(tasks: list[_Task], jobs: int) -> Iterator[FileResult]:
    """Yield file results in task order, from a worker pool when it pays off.

    Workers return finding records only; every AST stays inside its worker.
    """
    if jobs <= 1 or len(tasks) < PARALLEL_MIN_FILES:
        yield from map(analyze_file, tasks)
        return
    # Imported here: it costs a sixth of a cached scan's start-up, never needed there.
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(analyze_file, tasks, chunksize=PARALLEL_CHUNK_SIZE)


def _cached_results(
    tasks: list[_Task], jobs: int, cache: ResultCache
) -> Iterator[FileResult]:
    """Yield file results in task order: cached ones as they are, others analyzed."""
    hits = {index: cache.lookup(task[0], task[1]) for index, task in enumerate(tasks)}
    misses = [task for index, task in enumerate(tasks) if hits[index] is None]
    analyzed = _results(misses, jobs)
    for index in range(len(tasks)):
        result = hits[index]
        if result is None:
            result = next(analyzed)
            cache.keep(result)
        yield result
    # Every miss has been taken: closing shuts the worker pool down now.
    analyzed.close()


def _cache_scope(root: str, families: frozenset[Family], options: ScanOptions) -> str:
    """Return what a cached result depends on besides the file and the analyzer."""
    return repr((root, sorted(families), options))


def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    families: Iterable[Family] = ALL_FAMILIES,
    options: ScanOptions = DEFAULT_SCAN_OPTIONS,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ScanResult:
    """Scan the Python files under paths and return findings and file errors.

    With cache_dir, files unchanged since the last scan of the same root with
    the same options are not analyzed again (analysis/cache.py). Raises
    FileNotFoundError when an input path does not exist.
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
    workers = jobs or os.cpu_count() or 1
    cache = None
    if cache_dir is not None:
        cache = ResultCache(cache_dir, _cache_scope(result.root, enabled, options))
    results = (
        _results(tasks, workers)
        if cache is None
        else _cached_results(tasks, workers, cache)
    )
    for done, file_result in enumerate(results, 1):
        result.files_scanned += 1
        result.findings.extend(file_result.findings)
        if file_result.sha256:
            result.file_hashes[file_result.path] = file_result.sha256
        if file_result.error is not None:
            result.errors.append(file_result.error)
        if progress is not None:
            progress(done, total)
    if cache is not None:
        cache.save()
        result.files_cached = cache.hits
    return result
