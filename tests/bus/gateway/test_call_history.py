"""Every answered call leaves exactly one call record, written off the call's path."""

from __future__ import annotations

import logging
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client as HttpClient

from bus.gateway.worker import worker_id
from bus.models import CallRecord, Message

pytestmark = pytest.mark.django_db(transaction=True)


def _records() -> list[CallRecord]:
    return list(CallRecord.objects.order_by("id"))


def _dropped_on_metrics(reason: str) -> float:
    """Read controlplane_call_records_dropped_total off /metrics, as a scraper does."""
    text = HttpClient().get("/metrics").content.decode()
    labels = f'reason="{reason}",worker="{worker_id()}"'
    pattern = (
        rf"^controlplane_call_records_dropped_total\{{{re.escape(labels)}\}} (\S+)$"
    )
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


async def _cancelled(client, request_id: str) -> dict:
    await client.start("sleep", {"seconds": 30}, request_id)
    await client.send({"op": "cancel", "request_id": request_id})
    frames = await client.until_result(request_id)
    return frames[-1]


async def test_call_history__mixed_run_has_one_record_per_answer(
    connect, agent, gateway, ws_config, make_tool
) -> None:
    """ok, several error codes, replay, cached, cancelled and a bus result."""
    ws_config(WS_CALL_TIMEOUT_SECS=0.3, MESSAGE_BUS_THRESHOLD_BYTES=4096)
    await database_sync_to_async(make_tool)("explode", "tests.bus.sample_tools.explode")
    client = await connect(agent[1])
    await client.call("echo", {"text": "hi"}, "r-ok")
    await client.call("echo", {"text": "hi"}, "r-ok")  # replayed
    await client.call("echo", {"text": "hi"}, "r-same")  # the same call: cached
    await client.call("echo", {"text": "other"}, "r-ok")  # REQUEST_ID_CONFLICT
    await client.call("nope", {}, "r-unknown")
    await client.call("echo", {"text": 5}, "r-invalid")
    await client.call("explode", {}, "r-explode")
    await client.call("sleep", {"seconds": 5}, "r-timeout")
    bus = (await client.call("generate", {"bytes": 20000}, "r-bus"))[-1]["bus"]
    assert (await _cancelled(client, "r-cancel"))["error"]["code"] == "CANCELLED"

    assert await gateway.call_history.flush() == 0
    records = await database_sync_to_async(_records)()
    assert sorted(
        (r.request_id, r.tool_name, r.outcome, r.replay, r.cached) for r in records
    ) == sorted(
        [
            ("r-ok", "echo", "ok", False, False),
            ("r-ok", "echo", "ok", True, False),
            ("r-same", "echo", "ok", False, True),
            ("r-ok", "echo", "REQUEST_ID_CONFLICT", False, False),
            ("r-unknown", "nope", "TOOL_NOT_FOUND", False, False),
            ("r-invalid", "echo", "INVALID_ARGUMENTS", False, False),
            ("r-explode", "explode", "EXEC_ERROR", False, False),
            ("r-timeout", "sleep", "TIMEOUT", False, False),
            ("r-bus", "generate", "ok", False, False),
            ("r-cancel", "sleep", "CANCELLED", False, False),
        ]
    )
    session_id = client.hello_ack["session_id"]
    for record in records:
        assert record.agent_id == agent[0].pk and record.agent_name == "agent-one"
        assert (record.session_id, record.transport) == (session_id, "websocket")
        assert record.worker == worker_id()
        assert record.result_bytes > 0 and record.latency_ms > 0
    by_id = {
        r.request_id: r
        for r in records
        if not r.replay and r.outcome != "REQUEST_ID_CONFLICT"
    }
    assert by_id["r-bus"].transaction_id == bus["transaction_id"]
    assert await Message.objects.filter(transaction_id=bus["transaction_id"]).aexists()
    assert by_id["r-explode"].error_message
    assert by_id["r-ok"].provider_name == "builtin"
    assert by_id["r-unknown"].provider_name == ""
    assert by_id["r-timeout"].latency_ms >= 300


async def test_call_history__database_outage_loses_no_call_and_counts_drops(
    connect, agent, gateway, ws_config, database_down, caplog
) -> None:
    """Calls are answered during the outage; the buffered records land afterwards."""
    ws_config(CALL_HISTORY_BUFFER=100)
    client = await connect(agent[1])
    await client.call("echo", {"text": "before"}, "before")
    assert await gateway.call_history.flush() == 0
    dropped_before = await database_sync_to_async(_dropped_on_metrics)("buffer_full")

    with caplog.at_level(logging.WARNING, logger="bus.gateway.call_history"):
        database_down.start()
        for n in range(130):
            frames = await client.call("echo", {"text": f"t{n}"}, f"down-{n}")
            assert frames[-1]["outputs"][0]["text"] == f"t{n}"
        assert await gateway.call_history.flush() == 100
        database_down.stop()
    assert "database unavailable" in caplog.text
    assert "Call history queue full (100 records)" in caplog.text

    assert await gateway.call_history.flush() == 0
    records = await database_sync_to_async(_records)()
    assert [r.request_id for r in records] == ["before"] + [
        f"down-{n}" for n in range(100)
    ]
    dropped = await database_sync_to_async(_dropped_on_metrics)("buffer_full")
    assert dropped - dropped_before == 30


async def test_call_history__off_writes_nothing(
    connect, agent, gateway, ws_config
) -> None:
    ws_config(CALL_HISTORY_ENABLED=False)
    client = await connect(agent[1])
    await client.call("echo", {"text": "x"})
    assert not gateway.call_history.waiting
    assert await CallRecord.objects.acount() == 0


async def test_call_history__client_text_fits_its_column(
    connect, agent, gateway
) -> None:
    """A request id longer than the column, with a NUL, is kept cut, not refused."""
    client = await connect(agent[1])
    request_id = "a\x00" + "b" * 500
    await client.call("echo", {"text": "x"}, request_id)
    assert await gateway.call_history.flush() == 0
    record = await CallRecord.objects.aget()
    assert record.request_id == ("a\ufffd" + "b" * 500)[:200]


async def test_call_history__deleted_token_keeps_its_records(
    connect, agent, gateway
) -> None:
    """A token deleted before its records are written: they stay, unlinked."""
    client = await connect(agent[1])
    await client.call("echo", {"text": "x"})
    await agent[0].adelete()
    assert await gateway.call_history.flush() == 0
    record = await CallRecord.objects.aget()
    assert (record.agent_id, record.agent_name) == (None, "agent-one")
