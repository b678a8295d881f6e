"""Log lines carry request and session ids; LOG_FORMAT=json writes JSON lines."""

import json
import logging
import sys

from django.conf import settings

from controlplane.logconfig import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    request_id_var,
    session_id_var,
)


def _record(message: str) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "bus.consumers", "levelname": "WARNING", "msg": message}
    )
    ContextFilter().filter(record)
    return record


def test_json_formatter__writes_one_object_with_context_ids():
    request_token = request_id_var.set("req-1")
    session_token = session_id_var.set("sess-9")
    try:
        line = JsonFormatter().format(_record("slot released"))
    finally:
        request_id_var.reset(request_token)
        session_id_var.reset(session_token)
    entry = json.loads(line)
    assert entry["message"] == "slot released"
    assert entry["level"] == "WARNING"
    assert (entry["request_id"], entry["session_id"]) == ("req-1", "sess-9")


def test_context_filter__text_lines_show_a_dash_without_context():
    assert _record("x").context == "-"


def test_request_id__echoed_from_header_and_generated_otherwise(client):
    echoed = client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")
    generated = client.get("/health/live")
    assert echoed["X-Request-ID"] == "abc-123"
    assert len(generated["X-Request-ID"]) == 32


HOSTILE = (
    "evil\n2026-01-01 00:00:00,000 CRITICAL forged [-] line\r\x1b[31m\u2028\ud800\t"
)


def _text_formatter() -> TextFormatter:
    """The text formatter exactly as settings.LOGGING configures it."""
    spec = dict(settings.LOGGING["formatters"]["text"])
    factory = spec.pop("()")
    assert factory == "controlplane.logconfig.TextFormatter"
    return TextFormatter(**spec)


def _client_record(*args: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {
            "name": "bus.gateway.transports.websocket",
            "levelname": "INFO",
            "levelno": logging.INFO,
            "msg": "Agent %s connected (client %s)",
            "args": args,
        }
    )
    ContextFilter().filter(record)
    return record


def test_text_formatter__client_text_cannot_start_a_line():
    line = _text_formatter().format(_client_record("agent-one", HOSTILE))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "\u2028" not in line and "\t" not in line
    assert line.endswith(
        "(client evil\\n2026-01-01 00:00:00,000 CRITICAL forged [-] "
        "line\\r\\x1b[31m\\u2028\\ud800\\t)"
    )
    line.encode("utf-8")  # a lone surrogate would have failed the write


def test_text_formatter__printable_text_is_unchanged():
    line = _text_formatter().format(_client_record("agent-one", "café 🤖 v1.2"))
    assert line.endswith("Agent agent-one connected (client café 🤖 v1.2)")


def test_text_formatter__escapes_a_preformatted_message_too():
    record = logging.makeLogRecord({"msg": f"tool {HOSTILE}", "levelname": "INFO"})
    ContextFilter().filter(record)
    assert "\n" not in _text_formatter().format(record)


def test_text_formatter__traceback_still_follows_on_its_own_lines():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.makeLogRecord(
            {"msg": "failed %s", "args": ("x\ny",), "exc_info": sys.exc_info()}
        )
    ContextFilter().filter(record)
    first, *rest = _text_formatter().format(record).split("\n")
    assert first.endswith("failed x\\ny")
    assert rest[0] == "Traceback (most recent call last):"


def test_text_formatter__exception_messages_in_a_traceback_are_escaped():
    """A tool's error may quote its arguments: it gets no line of its own."""
    try:
        try:
            raise KeyError("x")
        except KeyError as inner:
            raise ValueError(f"bad text {HOSTILE}") from inner
    except ValueError:
        record = logging.makeLogRecord(
            {"msg": "Tool t raised", "exc_info": sys.exc_info()}
        )
    ContextFilter().filter(record)
    lines = _text_formatter().format(record).split("\n")
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert lines[-1].startswith("ValueError: bad text evil\\n2026-01-01")
    assert "KeyError: 'x'" in lines
    "\n".join(lines).encode("utf-8")


def test_json_formatter__client_text_stays_valid_json_on_one_line():
    line = JsonFormatter().format(_client_record("agent-one", HOSTILE))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == f"Agent agent-one connected (client {HOSTILE})"
