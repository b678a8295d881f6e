"""Log context (request and session ids), the text formatter and the JSON one."""

import contextvars
import json
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
session_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "session_id", default=None
)

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "context",
}


class ContextFilter(logging.Filter):
    """Attach the current request and session ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.session_id = session_id_var.get()
        parts = []
        if record.request_id:
            parts.append(f"req={record.request_id}")
        if record.session_id:
            parts.append(f"sess={record.session_id}")
        record.context = " ".join(parts) or "-"
        return True


# Escapes people read more easily than \xNN for the usual line breakers.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_unprintable(text: str) -> str:
    """Return text with control and other unprintable characters as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class TextFormatter(logging.Formatter):
    """Format a record as text lines that no message or argument can add to.

    Messages carry text from frames (client names, ids, tool names): a newline
    in one would start a line of the client's choosing, and a lone surrogate
    would fail the write. Escaping the formatted message covers every argument
    at once. A traceback still takes its own lines, but the message of each
    exception in it (a tool's error may quote its arguments) is escaped too.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_unprintable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        text = super().formatException(ei)
        for exc in _chain(ei[1]):
            # The same lines the traceback ends each exception with.
            shown = "".join(traceback.format_exception_only(type(exc), exc))
            shown = shown.rstrip("\n")
            escaped = escape_unprintable(shown)
            if escaped != shown:
                text = text.replace(shown, escaped)
        return text


def _chain(exc: BaseException | None) -> list[BaseException]:
    """Return an exception and those it was raised from or while handling."""
    chain: list[BaseException] = []
    while exc is not None and not any(exc is seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return chain


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "t": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdMiddleware:
    """Give each HTTP request an id (X-Request-ID if sent) for its log records."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _start(self, request: HttpRequest) -> contextvars.Token:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming[:64] if incoming.isprintable() and incoming else None
        return request_id_var.set(request_id or uuid.uuid4().hex)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        token = self._start(request)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = self._start(request)
        try:
            response = await self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)
