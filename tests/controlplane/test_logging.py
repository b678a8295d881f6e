"""Log lines carry request and session ids; LOG_FORMAT=json writes JSON lines."""

import json
import logging

from controlplane.logconfig import (
    ContextFilter,
    JsonFormatter,
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
