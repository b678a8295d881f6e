"""Errors of the message bus; each carries the protocol error code it maps to."""

from bus.protocol import ErrorCode


class BusError(Exception):
    """Base of every message bus error."""

    # Not a protocol code: subclasses name theirs; a bare BusError is a failure.
    code = ErrorCode.EXEC_ERROR


class PayloadTooLargeError(BusError):
    """The result is larger than MESSAGE_BUS_MAX_PAYLOAD_MB."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class BusUnavailableError(BusError):
    """The bus cannot store or serve right now and the result cannot go inline."""

    code = ErrorCode.BUS_UNAVAILABLE


class CircuitOpenError(BusUnavailableError):
    """The circuit breaker is open: the database is not tried until the timeout."""


class MessageQueryError(BusError):
    """The database refused a bus query for what it held or a bug, not an outage."""

    # Not counted by the breaker: the service works, this one request failed.
    code = ErrorCode.EXEC_ERROR


class MessageNotFoundError(BusError):
    """No such message for this agent (also when another agent owns it)."""

    code = ErrorCode.NOT_FOUND


class MessageExpiredError(BusError):
    """The message is past its expires_at (whether or not it was purged yet)."""

    code = ErrorCode.EXPIRED


class ChecksumMismatchError(BusError):
    """The stored payload does not match its SHA-256; it is never served."""

    code = ErrorCode.CHECKSUM_MISMATCH


class PurgeLockedError(BusError):
    """Another purge_bus holds the purge lock."""

    code = "PURGE_LOCKED"


class UpstreamError(BusError):
    """Base of the errors of upstream MCP servers as the operator manages them."""


class UpstreamInvalidError(UpstreamError):
    """An upstream's settings break a rule (the message names the field)."""


class UpstreamNotFoundError(UpstreamError):
    """No upstream MCP server has that name."""


class UpstreamUnreachableError(UpstreamError):
    """The upstream could not be reached or did not list its tools."""
