"""Delivery: inline, claim check, fallback or error, decided once per result."""

import hashlib
import json
import logging

import pytest
from channels.db import database_sync_to_async

from bus.apps import bus_app
from bus.exceptions import BusUnavailableError
from bus.gateway.delivery import deliver_result
from bus.models import BusEvent, Message
from bus.store.breaker import CLOSED, OPEN
from bus.store.services import Producer
from controlplane.config import aget_config
from tests.bus.conftest import FakeClock, result_json

MIB = 1024 * 1024
pytestmark = pytest.mark.django_db(transaction=True)


async def deliver(producer, data: bytes, *, request_id: str = "r-1") -> dict:
    """Deliver a result serialized as `data` and return the answer body."""
    return await deliver_result(
        outputs=json.loads(data)["outputs"],
        producer=Producer(
            agent_id=producer.pk,
            agent_name=producer.name,
            session_id="sess-9",
            request_id=request_id,
            tool_name="generate",
            provider_name="builtin",
        ),
        claims=bus_app().claims,
        config=await aget_config(),
    )


def compact(data: bytes) -> bytes:
    """Return JSON as the gateway serializes it (no spaces between items)."""
    return json.dumps(json.loads(data), separators=(",", ":")).encode()


async def test_deliver_result__small_results_go_inline(producer) -> None:
    data = result_json(MIB)
    body = await deliver(producer, data)
    assert body["outputs"] == json.loads(data)["outputs"] and "bus" not in body
    assert body["text"] == body["outputs"][0]["text"]
    assert await Message.objects.acount() == 0


async def test_deliver_result__large_result_becomes_a_claim_check(producer) -> None:
    data = compact(result_json(3 * MIB))
    text = json.loads(data)["outputs"][0]["text"]

    fields = await deliver(producer, data)

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

    row = await Message.objects.aget(transaction_id=ref["transaction_id"])
    assert row.metadata == {"request_id": "r-1"}


async def test_deliver_result__refuses_over_the_limit(producer, set_config) -> None:
    await database_sync_to_async(set_config)(MESSAGE_BUS_MAX_PAYLOAD_MB=2)
    body = await deliver(producer, result_json(3 * MIB))
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await Message.objects.acount() == 0


async def test_deliver_result__disabled_bus_goes_inline_when_it_fits(
    producer, set_config
) -> None:
    await database_sync_to_async(set_config)(MESSAGE_BUS_ENABLED=False)
    assert "bus" not in await deliver(producer, result_json(2 * MIB))
    too_big = await deliver(producer, result_json(17 * MIB))
    assert too_big["error"]["code"] == "BUS_UNAVAILABLE"
    assert await Message.objects.acount() == 0


async def test_deliver_result__inline_frame_exactly_at_the_limit_fits(
    producer, ws_config
) -> None:
    """The boundary of "fits a frame" is the whole call_tool_res frame, in bytes."""
    limit = 64 * 1024
    ws_config(WS_MAX_MESSAGE_BYTES=limit, WS_COMPAT_TEXT=False)

    def frame(text: str) -> dict:
        return {
            "op": "call_tool_res",
            "request_id": "r-1",
            "outputs": [text_output(text)],
        }

    room = limit - len(json.dumps(frame(""), separators=(",", ":")))
    exact = json.dumps({"outputs": [text_output("a" * room)]}).encode()
    over = json.dumps({"outputs": [text_output("a" * (room + 1))]}).encode()

    assert "bus" not in await deliver(producer, exact)
    assert "bus" in await deliver(producer, over)  # the bus carries it instead
    ws_config(MESSAGE_BUS_ENABLED=False)
    assert "bus" not in await deliver(producer, exact)
    assert (await deliver(producer, over))["error"]["code"] == "BUS_UNAVAILABLE"


def text_output(text: str) -> dict:
    return {"type": "text", "text": text}


async def test_deliver_result__database_down_falls_back_then_recovers(
    producer, set_config, clock: FakeClock, database_down, caplog
) -> None:
    """The bus points at a closed port: inline fallback, breaker opens, probe heals."""
    await database_sync_to_async(set_config)(
        CIRCUIT_BREAKER_THRESHOLD=2, CIRCUIT_BREAKER_TIMEOUT_SECS=30
    )
    stored = (await deliver(producer, result_json(2 * MIB)))["bus"]["transaction_id"]
    claims = bus_app().claims
    database_down.start()
    data = result_json(2 * MIB)

    assert "bus" not in await deliver(producer, data)
    assert claims.breaker_state == CLOSED
    assert "bus" not in await deliver(producer, data)
    assert claims.breaker_state == OPEN
    inline = await deliver(producer, data)  # open: inline without trying
    assert inline["outputs"] == json.loads(data)["outputs"]
    with pytest.raises(BusUnavailableError):
        await claims.fetch(
            agent_id=producer.pk, transaction_id=stored, config=await aget_config()
        )
    too_big = await deliver(producer, result_json(17 * MIB))  # and too big a frame
    assert too_big["error"]["code"] == "BUS_UNAVAILABLE"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sending it inline" in r.getMessage() for r in warnings)

    database_down.stop()
    clock.advance(29)
    assert "bus" not in await deliver(producer, data)  # still open until the timeout
    clock.advance(1)
    fields = await deliver(producer, data)  # the half-open probe stores it

    assert "bus" in fields and claims.breaker_state == CLOSED
    kinds = await database_sync_to_async(list)(
        BusEvent.objects.filter(kind__startswith="breaker").values_list(
            "kind", flat=True
        )
    )
    assert sorted(kinds) == ["breaker_closed", "breaker_opened"]


async def test_deliver_result__no_fallback_means_bus_unavailable(
    producer, set_config, database_down
) -> None:
    await database_sync_to_async(set_config)(FALLBACK_TO_WEBSOCKET=False)
    with database_down:
        body = await deliver(producer, result_json(2 * MIB))
    assert body["error"]["code"] == "BUS_UNAVAILABLE"
