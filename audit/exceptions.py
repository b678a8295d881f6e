"""Errors raised by audit services."""


class AuditError(Exception):
    """Base class of audit errors; messages are safe to show."""


class AuditPathError(AuditError):
    """A path given to a scan does not exist."""


class TriageError(AuditError):
    """A triage request is invalid (unknown status)."""


class ReportFileError(AuditError):
    """A file view was asked for a path the run has no finding in."""
