"""The claim store: the bus's async seam, through the breaker, in threads."""

import dataclasses
import logging
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from bus.apps import bus_app
from bus.exceptions import (
    BusError,
    BusUnavailableError,
    ChecksumMismatchError,
    MessageExpiredError,
    MessageNotFoundError,
    MessageQueryError,
)
from bus.models import Message
from bus.store.breaker import CLOSED, OPEN
from controlplane.config import aget_config
from tests.bus.conftest import (
    producer_of,
    result_json,
    store_message,
    tamper_payload,
)
from tests.conftest import backends_terminate, shared_thread_connections_close

MIB = 1024 * 1024
# Calls after a cut: sequential calls spread over the worker threads.
CALLS_AFTER_CUT = 5
pytestmark = pytest.mark.django_db(transaction=True)


async def stored(producer, size: int = 2 * MIB) -> str:
    message = await database_sync_to_async(store_message)(producer, result_json(size))
    return message.transaction_id


async def fetch(agent, transaction_id: str):
    return await bus_app().claims.fetch(
        agent_id=agent.pk, transaction_id=transaction_id, config=await aget_config()
    )


async def release(agent, transaction_id: str) -> None:
    await bus_app().claims.release(
        agent_id=agent.pk, transaction_id=transaction_id, config=await aget_config()
    )


async def test_claim_store__fetch_is_byte_exact(producer) -> None:
    data = result_json(3 * MIB + 12345)
    message = await database_sync_to_async(store_message)(producer, data)
    payload = await fetch(producer, message.transaction_id)
    assert bytes(payload.data) == data
    assert payload.size_bytes == len(data) and payload.checksum == message.checksum


async def test_claim_store__other_agent_gets_not_found(producer, stranger) -> None:
    txn = await stored(producer)
    with pytest.raises(MessageNotFoundError) as theirs:
        await fetch(stranger, txn)
    with pytest.raises(MessageNotFoundError) as never:
        await fetch(producer, "txn_" + "f" * 32)
    assert theirs.value.code == never.value.code == "NOT_FOUND"


async def test_claim_store__expired_and_tampered(producer) -> None:
    expired, tampered = await stored(producer), await stored(producer)
    await Message.objects.filter(transaction_id=expired).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    await database_sync_to_async(tamper_payload)(tampered, offset=99)

    with pytest.raises(MessageExpiredError):
        await fetch(producer, expired)
    with pytest.raises(ChecksumMismatchError):
        await fetch(producer, tampered)
    row = await Message.objects.aget(transaction_id=tampered)
    assert row.status == Message.Status.ERROR


async def test_claim_store__release_deletes_then_not_found(producer, stranger) -> None:
    txn = await stored(producer)
    with pytest.raises(MessageNotFoundError):
        await release(stranger, txn)
    await release(producer, txn)
    assert not await Message.objects.filter(transaction_id=txn).aexists()
    with pytest.raises(MessageNotFoundError):
        await release(producer, txn)


async def test_claim_store__bus_answers_keep_the_breaker_closed(
    producer, set_config
) -> None:
    await database_sync_to_async(set_config)(CIRCUIT_BREAKER_THRESHOLD=1)
    for _ in range(3):
        with pytest.raises(BusError):
            await fetch(producer, "txn_" + "0" * 32)
    assert bus_app().claims.breaker_state == CLOSED


async def test_claim_store__database_down_is_unavailable_and_opens_the_breaker(
    producer, set_config, database_down
) -> None:
    txn = await stored(producer)
    await database_sync_to_async(set_config)(CIRCUIT_BREAKER_THRESHOLD=1)
    with database_down:
        with pytest.raises(BusUnavailableError):
            await fetch(producer, txn)
        with pytest.raises(BusUnavailableError):
            await release(producer, txn)
    assert bus_app().claims.breaker_state == OPEN


async def test_claim_store__cut_connections_are_replaced_for_store_and_fetch(
    producer, persistent_connections, caplog
) -> None:
    """The database ends the worker threads' kept connections (a restart, a
    failover): the next fetches and stores reconnect instead of failing, and a
    fetch's first read is the check that finds the cut."""
    claims, config = bus_app().claims, await aget_config()
    data = result_json(2 * MIB)
    stored = []
    for _ in range(CALLS_AFTER_CUT):
        stored.append(
            await claims.store(
                payload=data, producer=producer_of(producer), config=config
            )
        )
        assert (await fetch(producer, stored[-1].transaction_id)).data == data
    assert backends_terminate() >= 1
    shared_thread_connections_close()
    with caplog.at_level(logging.INFO, logger="bus.store"):
        for message in stored:
            assert (await fetch(producer, message.transaction_id)).data == data
        for _ in range(CALLS_AFTER_CUT):
            message = await claims.store(
                payload=data, producer=producer_of(producer), config=config
            )
            assert (await fetch(producer, message.transaction_id)).data == data
    assert bus_app().claims.breaker_state == CLOSED
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warned, warned
    assert any(
        r.getMessage().startswith("Reopening a database connection")
        for r in caplog.records
    )


MALFORMED_IDS = [
    "txn_\x00",
    "txn_" + "0" * 31 + "\x00",
    "\x00" * 36,
    "txn_" + "A" * 32,
    "txn_" + "0" * 31,
    "txn_" + "0" * 33,
    "txn_" + "0" * 32 + "\n",
    "TXN_" + "0" * 32,
    "txn_" + "g" * 32,
    "txn_",
    "x" * 1_000_000,
    "💥",
]


async def test_claim_store__malformed_ids_are_not_found_without_the_database(
    producer, set_config, database_down
) -> None:
    """The database is down: only an id that is never looked up can be NOT_FOUND."""
    await database_sync_to_async(set_config)(CIRCUIT_BREAKER_THRESHOLD=1)
    with database_down:
        for transaction_id in MALFORMED_IDS:
            with pytest.raises(MessageNotFoundError):
                await fetch(producer, transaction_id)
            with pytest.raises(MessageNotFoundError):
                await release(producer, transaction_id)
            with pytest.raises(MessageNotFoundError):
                await bus_app().claims.operator_fetch(
                    transaction_id=transaction_id,
                    operator="op",
                    config=await aget_config(),
                )
    assert bus_app().claims.breaker_state == CLOSED


async def test_claim_store__database_refusal_fails_the_call_not_the_breaker(
    producer, set_config, caplog
) -> None:
    """A DataError (here a value too long for its column) is not an outage."""
    await database_sync_to_async(set_config)(CIRCUIT_BREAKER_THRESHOLD=1)
    too_long = dataclasses.replace(producer_of(producer), tool_name="t" * 101)
    for _ in range(3):
        with pytest.raises(MessageQueryError) as caught:
            await bus_app().claims.store(
                payload=result_json(5000), producer=too_long, config=await aget_config()
            )
    assert caught.value.code == "EXEC_ERROR"
    assert "DataError" in str(caught.value)
    assert bus_app().claims.breaker_state == CLOSED
    refused = [r for r in caplog.records if "not an outage" in r.getMessage()]
    assert len(refused) == 3 and refused[0].levelno == logging.ERROR
    assert refused[0].exc_info is not None
    txn = await stored(producer)
    assert (await fetch(producer, txn)).size_bytes == 2 * MIB
