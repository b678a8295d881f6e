"""Message bus services on real Postgres: store, fetch, verify, ack, expire."""

import dataclasses
import hashlib
import logging
from datetime import timedelta

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.utils import timezone

from bus.exceptions import (
    ChecksumMismatchError,
    MessageExpiredError,
    MessageNotFoundError,
    PayloadTooLargeError,
)
from bus.models import BusEvent, Message
from bus.store import codec, payload_io, services
from controlplane.config import get_config
from tests.bus.conftest import (
    fetch_message,
    producer_of,
    result_json,
    store_message,
    tamper_payload,
)

MIB = 1024 * 1024


def store(producer, data: bytes) -> services.StoredMessage:
    return store_message(producer, data)


def stored_bytes(transaction_id: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload FROM message_bus WHERE transaction_id = %s",
            [transaction_id],
        )
        return bytes(cursor.fetchone()[0])


def replace_payload(transaction_id: str, new: bytes, *, fix_size: bool) -> None:
    """Overwrite the stored bytes in SQL, also the recorded size when fix_size."""
    size_sql = ", compressed_size_bytes = octet_length(%s)" if fix_size else ""
    params = [new, new, transaction_id] if fix_size else [new, transaction_id]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE message_bus SET payload = %s{size_sql} WHERE transaction_id = %s",
            params,
        )


@pytest.mark.django_db
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_message_store__compresses_checksums_and_records(
    producer, set_config, compression: str
) -> None:
    set_config(MESSAGE_BUS_COMPRESSION=compression, MESSAGE_BUS_TTL_HOURS=5)
    data = result_json(2 * MIB)
    before = timezone.now().replace(microsecond=0)

    stored = store(producer, data)

    row = Message.objects.get(transaction_id=stored.transaction_id)
    assert stored.transaction_id.startswith("txn_") and len(stored.transaction_id) == 36
    assert row.agent == producer and row.status == Message.Status.COMPLETE
    assert row.compression_type == compression == stored.compression
    assert row.payload_size_bytes == len(data) == stored.size_bytes
    assert row.checksum == hashlib.sha256(data).hexdigest() == stored.checksum
    raw = stored_bytes(stored.transaction_id)
    assert len(raw) == row.compressed_size_bytes == stored.compressed_size_bytes
    assert codec.decompress(raw, compression, expected_size=len(data)) == data
    if compression != "none":
        assert len(raw) < len(data) / 2
    assert (
        before + timedelta(hours=5)
        <= row.expires_at
        <= timezone.now() + timedelta(hours=5)
    )
    event = BusEvent.objects.get(kind=BusEvent.Kind.STORED)
    assert event.transaction_id == stored.transaction_id
    assert event.agent_name == producer.name
    assert event.detail["size_bytes"] == len(data)


@pytest.mark.django_db
def test_message_store__refuses_over_the_limit(producer, set_config) -> None:
    set_config(MESSAGE_BUS_MAX_PAYLOAD_MB=1)
    with pytest.raises(PayloadTooLargeError) as caught:
        store(producer, b"x" * (MIB + 1))
    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert not Message.objects.exists()
    store(producer, b"x" * MIB)


@pytest.mark.django_db
def test_message_store__payload_column_is_stored_external() -> None:
    """Already compressed bytes must not be compressed again by TOAST."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'message_bus'::regclass AND attname = 'payload'"
        )
        assert cursor.fetchone()[0] == "e"


@pytest.mark.django_db
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
@pytest.mark.parametrize("size", [0, 1, 100_000, 20 * MIB + 3])
def test_message_fetch__round_trip_is_byte_exact(
    producer, set_config, compression: str, size: int
) -> None:
    set_config(MESSAGE_BUS_COMPRESSION=compression)
    data = result_json(size)
    stored = store(producer, data)

    fetched = fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)

    assert bytes(fetched.data) == data
    assert fetched.size_bytes == size
    assert fetched.checksum == hashlib.sha256(data).hexdigest()
    assert b"".join(fetched.pieces(64 * 1024)) == data
    row = Message.objects.get(transaction_id=stored.transaction_id)
    assert row.accessed_at is not None
    assert BusEvent.objects.filter(
        kind=BusEvent.Kind.FETCHED, transaction_id=stored.transaction_id
    ).exists()


@pytest.mark.django_db
@pytest.mark.slow
def test_message_fetch__round_trip_100_mib(producer) -> None:
    data = result_json(100 * MIB)
    stored = store(producer, data)
    fetched = fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert fetched.size_bytes == len(data)
    assert hashlib.sha256(fetched.data).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_message_fetch__other_agent_gets_not_found(producer, stranger) -> None:
    stored = store(producer, result_json(5000))
    with pytest.raises(MessageNotFoundError) as other:
        fetch_message(transaction_id=stored.transaction_id, agent_id=stranger.pk)
    with pytest.raises(MessageNotFoundError) as unknown:
        fetch_message(transaction_id="txn_" + "0" * 32, agent_id=producer.pk)
    assert other.value.code == unknown.value.code == "NOT_FOUND"
    assert str(other.value).replace(stored.transaction_id, "X") == str(
        unknown.value
    ).replace("txn_" + "0" * 32, "X")


@pytest.mark.django_db
def test_message_fetch__expired_before_purge(producer) -> None:
    stored = store(producer, result_json(5000))
    Message.objects.filter(transaction_id=stored.transaction_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(MessageExpiredError) as caught:
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert caught.value.code == "EXPIRED"
    assert Message.objects.filter(transaction_id=stored.transaction_id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_message_fetch__tampered_bytes_are_never_served(
    producer, set_config, compression: str, caplog
) -> None:
    """Same-size replacement bytes that decompress fine still fail the SHA-256."""
    set_config(MESSAGE_BUS_COMPRESSION=compression)
    data = result_json(50_000, seed=1)
    stored = store(producer, data)
    forged = result_json(50_000, seed=2)
    replace_payload(
        stored.transaction_id, codec.compress(forged, compression), fix_size=True
    )

    with pytest.raises(ChecksumMismatchError) as caught:
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)

    assert caught.value.code == "CHECKSUM_MISMATCH"
    row = Message.objects.get(transaction_id=stored.transaction_id)
    assert row.status == Message.Status.ERROR and "sha256" in row.error_message
    event = BusEvent.objects.get(kind=BusEvent.Kind.CHECKSUM_FAILED)
    assert event.transaction_id == stored.transaction_id
    assert any(r.levelname == "ERROR" for r in caplog.records)
    with pytest.raises(ChecksumMismatchError):
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_message_fetch__flipped_byte_in_sql_fails(
    producer, set_config, compression: str
) -> None:
    set_config(MESSAGE_BUS_COMPRESSION=compression)
    stored = store(producer, result_json(200_000))
    tamper_payload(stored.transaction_id, offset=40)
    with pytest.raises(ChecksumMismatchError):
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert Message.objects.get().status == Message.Status.ERROR


@pytest.mark.django_db
def test_message_fetch__truncated_row_fails(producer) -> None:
    stored = store(producer, result_json(200_000))
    replace_payload(
        stored.transaction_id, stored_bytes(stored.transaction_id)[:100], fix_size=False
    )
    with pytest.raises(ChecksumMismatchError):
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert Message.objects.get().status == Message.Status.ERROR


@pytest.mark.django_db
def test_message_fetch__truncated_large_row_fails_in_the_sliced_read(
    producer, set_config
) -> None:
    """Above SINGLE_READ_MAX_BYTES the payload is read in slices; short is caught."""
    set_config(MESSAGE_BUS_COMPRESSION="none")
    size = payload_io.SINGLE_READ_MAX_BYTES + 10
    stored = store(producer, result_json(size))
    replace_payload(stored.transaction_id, b"x" * (size - 5), fix_size=False)
    with pytest.raises(ChecksumMismatchError):
        fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    row = Message.objects.get()
    assert row.status == Message.Status.ERROR and "shorter" in row.error_message


@pytest.mark.django_db
def test_message_fetch__checksum_check_can_be_turned_off(producer, set_config) -> None:
    set_config(MESSAGE_BUS_COMPRESSION="none", MESSAGE_BUS_CHECKSUM_ENABLED=False)
    stored = store(producer, result_json(5000, seed=1))
    forged = result_json(5000, seed=2)
    replace_payload(stored.transaction_id, forged, fix_size=True)
    fetched = fetch_message(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert bytes(fetched.data) == forged


@pytest.mark.django_db
def test_message_ack__deletes_the_row(producer, stranger) -> None:
    stored = store(producer, result_json(5000))
    with pytest.raises(MessageNotFoundError):
        services.message_ack(transaction_id=stored.transaction_id, agent_id=stranger.pk)
    services.message_ack(transaction_id=stored.transaction_id, agent_id=producer.pk)
    assert not Message.objects.exists()
    assert BusEvent.objects.filter(kind=BusEvent.Kind.ACKED).count() == 1
    with pytest.raises(MessageNotFoundError):
        services.message_ack(transaction_id=stored.transaction_id, agent_id=producer.pk)


@pytest.mark.django_db
def test_message_expire__expires_now_and_records(producer, staff_user) -> None:
    live = store(producer, result_json(5000))
    gone = store(producer, result_json(5000))
    Message.objects.filter(transaction_id=gone.transaction_id).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    ids = list(Message.objects.values_list("pk", flat=True))

    assert services.message_expire(message_ids=ids, user=staff_user) == 1

    row = Message.objects.get(transaction_id=live.transaction_id)
    assert row.status == Message.Status.EXPIRED and row.expires_at <= timezone.now()
    event = BusEvent.objects.get(kind=BusEvent.Kind.EXPIRED)
    assert event.transaction_id == live.transaction_id
    assert event.detail == {"by": staff_user.get_username()}
    with pytest.raises(MessageExpiredError):
        fetch_message(transaction_id=live.transaction_id, agent_id=producer.pk)


def test_message_store__request_id_with_a_nul_is_stored(producer) -> None:
    """jsonb cannot hold NUL; a client's odd request_id must not lose its result."""
    odd = dataclasses.replace(producer_of(producer), request_id="r\x00-1")
    stored = services.message_store(
        payload=result_json(5000), producer=odd, config=get_config()
    )
    row = Message.objects.get(transaction_id=stored.transaction_id)
    assert row.metadata == {"request_id": "r\ufffd-1"}


def test_transaction_id_check__only_what_message_store_makes(producer) -> None:
    made = store_message(producer, result_json(5000)).transaction_id
    services.transaction_id_check(made)
    for malformed in ("txn_" + made[4:].upper(), made + "0", made[:-1], "txn_\x00"):
        with pytest.raises(MessageNotFoundError):
            services.transaction_id_check(malformed)


@pytest.mark.django_db(transaction=True)
def test_first_read__an_error_on_a_live_connection_is_not_retried(
    persistent_connections, caplog
) -> None:
    """Only a cut connection is reopened and read again: a timeout is the call's."""
    connection.close()  # reopened as a kept, health-checked connection
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 1")
    close_old_connections()  # as before every bus call: the next query is the check
    with caplog.at_level(logging.INFO, logger="bus.store"):
        with pytest.raises(OperationalError):
            payload_io._first_read("SELECT pg_sleep(1)", [])
    assert connection.connection.info.backend_pid == pid
    assert not caplog.records
