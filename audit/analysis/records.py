"""Plain records produced by the analyzer: findings, file errors, summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """How urgently a finding needs a person, most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Return 0 for critical up to 3 for low."""
        return list(Severity).index(self)

    def at_least(self, threshold: Severity) -> bool:
        """Return True when this severity is as urgent as threshold or more."""
        return self.rank <= threshold.rank


class Family(StrEnum):
    """The two kinds of problem the analyzer looks for."""

    SILENT_FAILURE = "silent_failure"
    HARDCODED_CONFIG = "hardcoded_config"


class FileErrorKind(StrEnum):
    """Why a file could not be analyzed."""

    SYNTAX = "syntax"
    BINARY = "binary"
    ENCODING = "encoding"
    UNREADABLE = "unreadable"
    # The analyzer itself failed on the file: a bug to report, the scan goes on.
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule violation at one place in one file."""

    code: str
    family: Family
    severity: Severity
    path: str
    line: int
    column: int
    end_line: int
    snippet: str
    message: str
    fix_hint: str
    fingerprint: str
    # Where and why, for a fixer: the enclosing function's qualified name and
    # one line on what goes wrong at run time if this is left as it is.
    function: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that was skipped because it could not be read or parsed."""

    path: str
    kind: FileErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class FileResult:
    """What analyzing one file produced: findings or an error."""

    path: str
    findings: tuple[Finding, ...] = ()
    error: FileError | None = None
    # SHA-256 of the bytes analyzed, so a report can tell when the file changed.
    sha256: str = ""


@dataclass(slots=True)
class ScanResult:
    """The outcome of a whole scan: findings, file errors and counts."""

    root: str
    files_scanned: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    # Relative path -> SHA-256 of every file read, as it was when analyzed.
    file_hashes: dict[str, str] = field(default_factory=dict)
    # Files whose results came from the cache, unchanged since the last scan.
    files_cached: int = 0
