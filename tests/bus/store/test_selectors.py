"""Selectors of the admin: a stored result's preview and an event's links."""

import os

import pytest

from bus.models import BusEvent, Message
from bus.store import selectors
from tests.bus.conftest import result_json, store_message

MIB = 1024 * 1024


@pytest.mark.django_db
@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_message_preview__the_start_of_any_codec_without_reading_it_all(
    producer, set_config, compression: str
) -> None:
    set_config(MESSAGE_BUS_COMPRESSION=compression)
    data = result_json(12 * MIB)
    message = Message.objects.get(
        transaction_id=store_message(producer, data).transaction_id
    )
    preview = selectors.message_preview(message=message, limit=4096)
    assert preview.text == data[:4096].decode()
    assert preview.truncated and not preview.problem


@pytest.mark.django_db
def test_message_preview__incompressible_result_and_a_corrupt_one(producer) -> None:
    noise = os.urandom(3 * MIB)
    message = Message.objects.get(
        transaction_id=store_message(producer, noise).transaction_id
    )
    preview = selectors.message_preview(message=message, limit=4096)
    assert preview.text == noise[:4096].decode("utf-8", errors="replace")
    Message.objects.filter(pk=message.pk).update(payload=b"not zstd at all")
    message.refresh_from_db()
    broken = selectors.message_preview(message=message, limit=4096)
    assert broken.text == "" and broken.problem.startswith("corrupt payload")


@pytest.mark.django_db
def test_with_links__resolves_message_and_agent_or_none(producer) -> None:
    stored = store_message(producer, result_json(5000))
    BusEvent.objects.create(kind=BusEvent.Kind.ACKED, transaction_id="txn_gone")
    events = {
        event.transaction_id: event
        for event in selectors.with_links(BusEvent.objects.all())
    }
    live = events[stored.transaction_id]
    assert live.message_pk == Message.objects.get().pk
    assert live.agent_pk == producer.pk
    assert events["txn_gone"].message_pk is None
    assert events["txn_gone"].agent_pk is None
