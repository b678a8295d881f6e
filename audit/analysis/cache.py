"""A scan's results kept on disk, so an unchanged file is not parsed again.

Parsing is most of a scan's time (benchmarks/README.md, "Audit speed"), and
in CI most files have not changed since the last run. One JSON file per scan
root and options holds each file's result under its path and the SHA-256 of
its bytes; the file's name also carries a hash of the analyzer's own source,
so any change to the rules starts a new cache. JSON rather than pickle: a
cache restored from CI storage must not be able to run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from audit.analysis.records import (
    Family,
    FileError,
    FileErrorKind,
    FileResult,
    Finding,
    Severity,
)

logger = logging.getLogger(__name__)
CACHE_FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent


def analyzer_version() -> str:
    """Return a hash of the analysis package's source: it changes with any rule."""
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for module in sorted(_PACKAGE.glob("*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def _encode(result: FileResult) -> dict:
    """Return a JSON-ready form of a file result."""
    return {
        "findings": [dataclasses.asdict(finding) for finding in result.findings],
        "error": dataclasses.asdict(result.error) if result.error else None,
    }


def _decode(path: str, sha256: str, stored: dict) -> FileResult:
    """Rebuild a file result. Raises KeyError, TypeError or ValueError if malformed."""
    findings = tuple(
        Finding(
            **{
                **item,
                "family": Family(item["family"]),
                "severity": Severity(item["severity"]),
            }
        )
        for item in stored["findings"]
    )
    error = stored["error"]
    return FileResult(
        path=path,
        findings=findings,
        error=(
            FileError(error["path"], FileErrorKind(error["kind"]), error["message"])
            if error
            else None
        ),
        sha256=sha256,
    )


class ResultCache:
    """Results of one scan root with one set of options, read once, written once."""

    def __init__(self, directory: str | os.PathLike[str], scope: str) -> None:
        """Open the cache of scope (the root and options) under directory."""
        self.directory = Path(directory)
        key = hashlib.sha256(f"{analyzer_version()}\x1f{scope}".encode()).hexdigest()
        self.file = self.directory / f"scan-{key[:32]}.json"
        self._stored = self._load()
        self._kept: dict[str, dict] = {}
        self.hits = 0

    def _load(self) -> dict[str, dict]:
        """Return the stored entries; an unreadable cache is an empty one."""
        try:
            entries = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A cache only saves time: a broken one is rebuilt, not fatal.
            logger.warning(
                "audit cache %s is unreadable, rebuilding: %s", self.file, exc
            )
            return {}
        return entries if isinstance(entries, dict) else {}

    def lookup(self, absolute: str, path: str) -> FileResult | None:
        """Return the cached result of a file whose bytes have not changed."""
        try:
            with open(absolute, "rb") as handle:
                sha256 = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            # The analysis reports an unreadable file; the cache has nothing to add.
            return None
        key = f"{sha256}:{path}"
        stored = self._stored.get(key)
        if stored is None:
            return None
        try:
            result = _decode(path, sha256, stored)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("audit cache entry of %s is malformed: %s", path, exc)
            return None
        self.hits += 1
        self._kept[key] = stored
        return result

    def keep(self, result: FileResult) -> None:
        """Remember a file's result for the next scan (files that were read)."""
        if result.sha256:
            self._kept[f"{result.sha256}:{result.path}"] = _encode(result)

    def save(self) -> None:
        """Write this scan's results, replacing the previous scan's atomically.

        Only files of this scan are kept, so the cache stays the size of the
        tree; a scan that changed nothing writes nothing.
        """
        if self._kept.keys() == self._stored.keys():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            "w", dir=self.directory, suffix=".tmp", delete=False, encoding="utf-8"
        )
        try:
            with handle:
                json.dump(self._kept, handle)
            os.replace(handle.name, self.file)
        except BaseException:
            # Leave no half-written file behind, then let the failure show.
            os.unlink(handle.name)
            raise
