"""Pure-Python static analysis: rules, analyzer, file discovery, scan, exports.

No Django imports here, so the analyzer runs and is tested without a database.
"""

from audit.analysis.analyzer import (
    ALL_FAMILIES,
    FileOptions,
    analyze_source,
    masked_source_lines,
)
from audit.analysis.discovery import ScanOptions, discover
from audit.analysis.records import (
    Family,
    FileError,
    FileErrorKind,
    FileResult,
    Finding,
    ScanResult,
    Severity,
)
from audit.analysis.rules import RULES, RULES_BY_CODE, Rule
from audit.analysis.runner import scan

__all__ = [
    "ALL_FAMILIES",
    "RULES",
    "RULES_BY_CODE",
    "Family",
    "FileError",
    "FileErrorKind",
    "FileOptions",
    "FileResult",
    "Finding",
    "Rule",
    "ScanOptions",
    "ScanResult",
    "Severity",
    "analyze_source",
    "discover",
    "masked_source_lines",
    "scan",
]
