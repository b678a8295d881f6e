"""Large results over the socket: claim checks, chunked fetch, ack, owner-only
access, PAYLOAD_TOO_LARGE, and inline fallback while the breaker is open."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from bus.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


async def _fetch(client, transaction_id: str) -> tuple[list[dict], dict]:
    await client.send({"op": "bus_fetch", "transaction_id": transaction_id})
    chunks = []
    while True:
        frame = await client.receive(timeout=10)
        if frame["op"] == "bus_fetch_res":
            return chunks, frame
        chunks.append(frame)


async def test_call_tool__large_result_becomes_a_claim_check_fetched_in_chunks(
    connect, agent
):
    client = await connect(agent[1])
    frames = await client.call("generate", {"bytes": 1_300_000, "seed": 3})
    result = frames[-1]
    ref = result["bus"]
    assert ref["transaction_id"].startswith("txn_") and len(ref["transaction_id"]) == 36
    assert ref["fetch_url"] == f"/bus/{ref['transaction_id']}/"
    assert ref["compression"] == "zstd"
    assert ref["compressed_size_bytes"] < ref["size_bytes"]
    assert len(ref["preview"]) == 512
    legacy = json.loads(result["outputs"][0]["text"])
    assert legacy["message_bus_transaction_id"] == ref["transaction_id"]
    assert legacy["retrieval_required"] is True
    assert legacy["payload_size_bytes"] == ref["size_bytes"]

    chunks, done = await _fetch(client, ref["transaction_id"])
    assert [chunk["seq"] for chunk in chunks] == list(range(len(chunks)))
    assert len(chunks) == done["chunks"] == 3
    assert all(len(base64.b64decode(c["data"])) <= 512 * 1024 for c in chunks)
    payload = b"".join(base64.b64decode(chunk["data"]) for chunk in chunks)
    assert len(payload) == done["size_bytes"] == ref["size_bytes"]
    assert done["checksum"] == ref["checksum"]
    assert "sha256:" + hashlib.sha256(payload).hexdigest() == done["checksum"]
    text = json.loads(payload)["outputs"][0]["text"]
    assert len(text) == 1_300_000 and text.startswith(ref["preview"])

    await client.send({"op": "bus_ack", "transaction_id": ref["transaction_id"]})
    assert await client.receive() == {
        "op": "bus_ack_res",
        "transaction_id": ref["transaction_id"],
        "ok": True,
    }
    assert not await Message.objects.filter(
        transaction_id=ref["transaction_id"]
    ).aexists()
    _, gone = await _fetch(client, ref["transaction_id"])
    assert gone["error"]["code"] == "NOT_FOUND"


async def test_bus_fetch__another_agent_gets_not_found(connect, agent, other_agent):
    owner = await connect(agent[1])
    ref = (await owner.call("generate", {"bytes": 1_100_000}))[-1]["bus"]
    other = await connect(other_agent[1])
    chunks, answer = await _fetch(other, ref["transaction_id"])
    assert chunks == []
    assert answer["error"]["code"] == "NOT_FOUND"
    await other.send({"op": "bus_ack", "transaction_id": ref["transaction_id"]})
    refused = await other.receive()
    assert refused["ok"] is False and refused["error"]["code"] == "NOT_FOUND"
    assert await Message.objects.filter(transaction_id=ref["transaction_id"]).aexists()


async def test_bus_fetch__expired_claim_answers_expired_before_purge(connect, agent):
    client = await connect(agent[1])
    ref = (await client.call("generate", {"bytes": 1_100_000}))[-1]["bus"]
    await Message.objects.filter(transaction_id=ref["transaction_id"]).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _, answer = await _fetch(client, ref["transaction_id"])
    assert answer["error"]["code"] == "EXPIRED"


async def test_bus_fetch__without_transaction_id_is_invalid_message(connect, agent):
    client = await connect(agent[1])
    await client.send({"op": "bus_fetch"})
    reply = await client.receive()
    assert reply["op"] == "error" and reply["code"] == "INVALID_MESSAGE"
    assert "transaction_id" in reply["message"]
    await client.send({"op": "bus_ack", "transaction_id": 7})
    assert (await client.receive())["code"] == "INVALID_MESSAGE"


async def test_call_tool__result_over_max_payload_is_payload_too_large(
    connect, agent, ws_config
):
    ws_config(MESSAGE_BUS_MAX_PAYLOAD_MB=1)
    client = await connect(agent[1])
    result = (await client.call("generate", {"bytes": MIB + 10}))[-1]
    assert result["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert not await Message.objects.aexists()


async def test_call_tool__bus_disabled_sends_large_result_inline(
    connect, agent, ws_config
):
    ws_config(MESSAGE_BUS_ENABLED=False)
    client = await connect(agent[1])
    result = (await client.call("generate", {"bytes": 1_100_000}))[-1]
    assert "bus" not in result
    assert len(result["outputs"][0]["text"]) == 1_100_000


async def test_call_tool__database_down_opens_breaker_and_falls_back_inline(
    connect, agent, ws_config, database_down
):
    ws_config(CIRCUIT_BREAKER_THRESHOLD=1)
    client = await connect(agent[1])
    # The tools as the process knew them before the outage (kept in memory).
    await client.send({"op": "list_tools"})
    assert (await client.receive())["op"] == "list_tools_res"
    # Open connections are cut and new ones refused.
    with database_down:
        result = (await client.call("generate", {"bytes": 1_100_000}))[-1]
        await client.send({"op": "health"})
        health = await client.receive()
    assert "bus" not in result and len(result["outputs"][0]["text"]) == 1_100_000
    assert health["health"]["bus"] == {"enabled": True, "breaker": "open"}


async def test_call_tool__same_large_call_after_an_ack_gets_a_fetchable_claim(
    connect, agent
):
    """An acked claim check is gone: an identical call must not reuse it."""
    client = await connect(agent[1])
    arguments = {"bytes": 1_100_000, "seed": 3}
    first = (await client.call("generate", arguments, request_id="one"))[-1]
    chunks, done = await _fetch(client, first["bus"]["transaction_id"])
    assert "error" not in done
    await client.send({"op": "bus_ack", "transaction_id": done["transaction_id"]})
    assert (await client.receive())["ok"] is True

    second = (await client.call("generate", arguments, request_id="two"))[-1]

    assert "cached" not in second
    assert second["bus"]["transaction_id"] != first["bus"]["transaction_id"]
    _, again = await _fetch(client, second["bus"]["transaction_id"])
    assert "error" not in again and again["checksum"] == first["bus"]["checksum"]


async def test_bus_fetch__malformed_ids_are_not_found_and_keep_the_breaker_closed(
    connect, agent, ws_config
):
    """NUL bytes once reached the driver, raised DataError and opened the breaker."""
    ws_config(CIRCUIT_BREAKER_THRESHOLD=1)
    client = await connect(agent[1])
    malformed = ["txn_\x00", "\x00", "txn_" + "F" * 32, "txn_" + "0" * 32 + "\n"]
    for transaction_id in malformed * 3:
        for op in ("bus_fetch", "bus_ack"):
            await client.send({"op": op, "transaction_id": transaction_id})
            reply = await client.receive()
            assert reply["op"] == f"{op}_res", reply
            assert reply["transaction_id"] == transaction_id
            assert reply["error"]["code"] == "NOT_FOUND"
    await client.send({"op": "health"})
    assert (await client.receive())["health"]["bus"]["breaker"] == "closed"
    result = (await client.call("generate", {"bytes": 2 * MIB}))[-1]
    assert result["bus"]["size_bytes"] > 2 * MIB


async def test_call_tool__nul_in_request_id_still_goes_to_the_bus(
    connect, agent, ws_config
):
    """jsonb refused the NUL in the row's metadata: DataError, counted as outage."""
    ws_config(CIRCUIT_BREAKER_THRESHOLD=1)
    client = await connect(agent[1])
    for n in range(3):
        request_id = f"r\x00{n}"
        result = (await client.call("generate", {"bytes": 1_100_000}, request_id))[-1]
        assert "bus" in result, result
    await client.send({"op": "health"})
    assert (await client.receive())["health"]["bus"]["breaker"] == "closed"
