"""Payloads above STREAM_ABOVE_BYTES over the socket: verified, then streamed."""

import base64

import pytest
from asgiref.sync import sync_to_async

from bus.models import Message
from bus.store import services
from tests.bus.conftest import result_json, store_message, tamper_payload

MIB = 1024 * 1024
CHUNK = 512 * 1024
pytestmark = pytest.mark.django_db(transaction=True)


async def fetch(client, transaction_id: str) -> tuple[list[dict], dict]:
    await client.send({"op": "bus_fetch", "transaction_id": transaction_id})
    chunks = []
    while True:
        frame = await client.receive(timeout=30)
        if frame["op"] == "bus_fetch_res":
            return chunks, frame
        chunks.append(frame)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
async def test_bus_fetch__streamed_payload_is_byte_exact(
    connect, agent_with_token, set_config, compression: str
) -> None:
    await sync_to_async(set_config)(MESSAGE_BUS_COMPRESSION=compression)
    producer, token = agent_with_token
    data = result_json(services.STREAM_ABOVE_BYTES + MIB + 7)
    stored = await sync_to_async(store_message)(producer, data)
    client = await connect(token)

    chunks, done = await fetch(client, stored.transaction_id)

    assert [chunk["seq"] for chunk in chunks] == list(range(len(chunks)))
    assert done["chunks"] == len(chunks) == -(-len(data) // CHUNK)
    assert b"".join(base64.b64decode(chunk["data"]) for chunk in chunks) == data
    assert done["checksum"] == f"sha256:{stored.checksum}"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
async def test_bus_fetch__corrupt_streamed_payload_sends_no_chunk(
    connect, agent_with_token, set_config, compression: str
) -> None:
    """The whole stream is verified before its first chunk: none goes out."""
    await sync_to_async(set_config)(MESSAGE_BUS_COMPRESSION=compression)
    producer, token = agent_with_token
    stored = await sync_to_async(store_message)(
        producer, result_json(services.STREAM_ABOVE_BYTES + MIB)
    )
    # Near the end of the stream, long after the first chunk's worth of it.
    await sync_to_async(tamper_payload)(
        stored.transaction_id, offset=stored.compressed_size_bytes - 100
    )
    client = await connect(token)

    chunks, done = await fetch(client, stored.transaction_id)

    assert chunks == []
    assert done["error"]["code"] == "CHECKSUM_MISMATCH"
    row = await Message.objects.aget(transaction_id=stored.transaction_id)
    assert row.status == Message.Status.ERROR
