"""The async seam the call pipeline and the consumer use: offload, fetch, ack."""

import base64
import hashlib
import json
import logging
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from bus import claims
from bus.breaker import CLOSED, OPEN
from bus.exceptions import BusUnavailableError, PayloadTooLargeError
from bus.models import BusEvent, Message
from tests.bus.conftest import FakeClock, closed_port, result_json, tamper_payload

MIB = 1024 * 1024
pytestmark = pytest.mark.django_db(transaction=True)


async def offload(producer, data: bytes, *, first_text: str = "hello") -> dict | None:
    return await claims.result_offload(
        result_bytes=data,
        first_text=first_text,
        agent=producer,
        session_id="sess-9",
        tool_name="generate",
        provider_name="builtin",
    )


async def collect(producer, transaction_id: str) -> list[dict]:
    return [
        frame
        async for frame in claims.fetch_frames(
            agent=producer, transaction_id=transaction_id
        )
    ]


async def test_result_offload__small_results_go_inline(producer) -> None:
    assert await offload(producer, result_json(MIB)) is None
    assert await Message.objects.acount() == 0


async def test_result_offload__large_result_becomes_a_claim_check(producer) -> None:
    data = result_json(3 * MIB)
    text = json.loads(data)["outputs"][0]["text"]

    fields = await offload(producer, data, first_text=text)

    ref = fields["bus"]
    row = await Message.objects.aget(transaction_id=ref["transaction_id"])
    assert ref["size_bytes"] == len(data) == row.payload_size_bytes
    assert ref["compressed_size_bytes"] == row.compressed_size_bytes
    assert ref["compression"] == "zstd"
    assert ref["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert ref["expires_at"] == row.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ref["fetch_url"] == f"/bus/{ref['transaction_id']}/"
    assert ref["preview"] == text[:512]
    assert fields["outputs"] == [
        {
            "type": "text",
            "text": '{"message_bus_transaction_id":"'
            + ref["transaction_id"]
            + f'","payload_size_bytes":{len(data)},"retrieval_required":true,'
            + '"session_id":"sess-9","tool_name":"generate"}',
        }
    ]


async def test_result_offload__refuses_over_the_limit(producer, set_config) -> None:
    await sync_to_async(set_config)(MESSAGE_BUS_MAX_PAYLOAD_MB=2)
    with pytest.raises(PayloadTooLargeError):
        await offload(producer, b"x" * (2 * MIB + 1))
    assert await Message.objects.acount() == 0


async def test_result_offload__disabled_bus_goes_inline_when_it_fits(
    producer, set_config
) -> None:
    await sync_to_async(set_config)(MESSAGE_BUS_ENABLED=False)
    assert await offload(producer, result_json(2 * MIB)) is None
    with pytest.raises(BusUnavailableError):
        await offload(producer, result_json(17 * MIB))
    assert await Message.objects.acount() == 0


async def test_fetch_frames__chunks_reassemble_byte_exact(producer) -> None:
    data = result_json(3 * MIB + 12345)
    ref = (await offload(producer, data))["bus"]

    frames = await collect(producer, ref["transaction_id"])

    chunks, final = frames[:-1], frames[-1]
    assert [f["seq"] for f in chunks] == list(range(len(chunks)))
    assert {f["op"] for f in chunks} == {"bus_chunk"}
    decoded = [base64.b64decode(f["data"]) for f in chunks]
    assert all(len(piece) <= 512 * 1024 for piece in decoded)
    assert b"".join(decoded) == data
    assert final == {
        "op": "bus_fetch_res",
        "transaction_id": ref["transaction_id"],
        "chunks": len(chunks),
        "size_bytes": len(data),
        "checksum": ref["checksum"],
    }


async def test_fetch_frames__other_agent_gets_not_found(producer, stranger) -> None:
    ref = (await offload(producer, result_json(2 * MIB)))["bus"]
    theirs = await collect(stranger, ref["transaction_id"])
    never = await collect(producer, "txn_" + "f" * 32)
    assert theirs[0]["error"]["code"] == never[0]["error"]["code"] == "NOT_FOUND"
    assert theirs == [
        {
            "op": "bus_fetch_res",
            "transaction_id": ref["transaction_id"],
            "error": theirs[0]["error"],
        }
    ]


async def test_fetch_frames__expired_and_tampered(producer) -> None:
    expired = (await offload(producer, result_json(2 * MIB)))["bus"]["transaction_id"]
    tampered = (await offload(producer, result_json(2 * MIB)))["bus"]["transaction_id"]
    await Message.objects.filter(transaction_id=expired).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    await sync_to_async(tamper_payload)(tampered, offset=99)

    assert (await collect(producer, expired))[0]["error"]["code"] == "EXPIRED"
    assert (await collect(producer, tampered))[0]["error"][
        "code"
    ] == "CHECKSUM_MISMATCH"
    row = await Message.objects.aget(transaction_id=tampered)
    assert row.status == Message.Status.ERROR


async def test_ack__deletes_then_not_found(producer, stranger) -> None:
    txn = (await offload(producer, result_json(2 * MIB)))["bus"]["transaction_id"]
    theirs = await claims.ack(agent=stranger, transaction_id=txn)
    assert theirs["ok"] is False and theirs["error"]["code"] == "NOT_FOUND"

    assert await claims.ack(agent=producer, transaction_id=txn) == {
        "op": "bus_ack_res",
        "transaction_id": txn,
        "ok": True,
    }
    assert not await Message.objects.filter(transaction_id=txn).aexists()
    again = await claims.ack(agent=producer, transaction_id=txn)
    assert again["op"] == "bus_ack_res" and again["error"]["code"] == "NOT_FOUND"


async def test_result_offload__database_down_falls_back_then_recovers(
    producer, set_config, clock: FakeClock, monkeypatch, caplog
) -> None:
    """The bus points at a closed port: inline fallback, breaker opens, probe heals."""
    await sync_to_async(set_config)(
        CIRCUIT_BREAKER_THRESHOLD=2, CIRCUIT_BREAKER_TIMEOUT_SECS=30
    )
    stored = (await offload(producer, result_json(2 * MIB)))["bus"]["transaction_id"]
    real_port = connection.settings_dict["PORT"]
    monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port()))
    data = result_json(2 * MIB)

    assert await offload(producer, data) is None
    assert claims.breaker_state() == CLOSED
    assert await offload(producer, data) is None
    assert claims.breaker_state() == OPEN
    assert await offload(producer, data) is None  # open: inline without trying
    frames = await collect(producer, stored)
    assert frames[0]["error"]["code"] == "BUS_UNAVAILABLE"
    with pytest.raises(BusUnavailableError):
        await offload(producer, result_json(17 * MIB))  # open and too big for a frame
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sending it inline" in r.getMessage() for r in warnings)

    monkeypatch.setitem(connection.settings_dict, "PORT", real_port)
    clock.advance(29)
    assert await offload(producer, data) is None  # still open until the timeout
    clock.advance(1)
    fields = await offload(producer, data)  # the half-open probe stores it

    assert fields is not None and claims.breaker_state() == CLOSED
    kinds = [
        kind
        async for kind in BusEvent.objects.filter(
            kind__startswith="breaker"
        ).values_list("kind", flat=True)
    ]
    assert sorted(kinds) == ["breaker_closed", "breaker_opened"]


async def test_result_offload__no_fallback_means_bus_unavailable(
    producer, set_config, monkeypatch
) -> None:
    await sync_to_async(set_config)(FALLBACK_TO_WEBSOCKET=False)
    monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port()))
    with pytest.raises(BusUnavailableError):
        await offload(producer, result_json(2 * MIB))
