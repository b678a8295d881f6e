"""The circuit breaker against real database failures, with an injected clock."""

import logging

import psycopg
import pytest
from django.db import DatabaseError, connection

from bus.exceptions import CircuitOpenError, MessageNotFoundError
from bus.models import BusEvent, Message
from bus.store import services
from bus.store.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from controlplane.config import get_config
from tests.bus.conftest import (
    FakeClock,
    fail_times,
    fetch_message,
    producer_of,
    result_json,
)


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    """A breaker of the test's own on the fake clock."""
    return CircuitBreaker(clock=clock)


@pytest.mark.django_db(transaction=True)
def test_breaker__opens_after_threshold_consecutive_database_errors(
    breaker, set_config, clock: FakeClock, caplog
) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=3)
    fail_times(breaker, 2)
    assert breaker.state == CLOSED

    fail_times(breaker, 1)

    assert breaker.state == OPEN
    calls = []
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(get_config(), calls.append, "tried")
    assert calls == [] and caught.value.code == "BUS_UNAVAILABLE"
    assert any(
        r.levelno == logging.WARNING and "breaker opened" in r.getMessage()
        for r in caplog.records
    )
    opened = BusEvent.objects.get(kind=BusEvent.Kind.BREAKER_OPENED)
    assert opened.detail["failures"] == 3 and opened.detail["from"] == CLOSED


@pytest.mark.django_db(transaction=True)
def test_breaker__success_resets_the_count(breaker, set_config) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=2)
    fail_times(breaker, 1)
    assert breaker.call(get_config(), lambda: "ok") == "ok"
    fail_times(breaker, 1)
    assert breaker.state == CLOSED


@pytest.mark.django_db(transaction=True)
def test_breaker__bus_answers_are_not_failures(breaker, set_config, producer) -> None:
    """NOT_FOUND proves the database works: it never opens the breaker."""
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    with pytest.raises(MessageNotFoundError):
        breaker.call(
            get_config(),
            fetch_message,
            transaction_id="txn_" + "0" * 32,
            agent_id=producer.pk,
        )
    assert breaker.state == CLOSED


@pytest.mark.django_db(transaction=True)
def test_breaker__half_open_probe_then_open_again_then_closed(
    breaker, set_config, clock: FakeClock
) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=1, CIRCUIT_BREAKER_TIMEOUT_SECS=30)
    fail_times(breaker, 1)
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        breaker.call(get_config(), lambda: "too early")

    clock.advance(1)
    fail_times(breaker, 1)  # the probe fails: open for another timeout
    assert breaker.state == OPEN
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        breaker.call(get_config(), lambda: "too early")

    clock.advance(1)
    seen_during_probe = []

    def probe() -> str:
        seen_during_probe.append(breaker.state)
        with pytest.raises(CircuitOpenError, match="probe is running"):
            breaker.call(get_config(), lambda: "a second caller")
        return "ok"

    assert breaker.call(get_config(), probe) == "ok"
    assert seen_during_probe == [HALF_OPEN]
    assert breaker.state == CLOSED
    kinds = list(BusEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["breaker_opened", "breaker_opened", "breaker_closed"]


@pytest.mark.django_db(transaction=True)
def test_breaker__settings_apply_live(breaker, set_config, clock: FakeClock) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=5, CIRCUIT_BREAKER_TIMEOUT_SECS=600)
    fail_times(breaker, 2)
    set_config(CIRCUIT_BREAKER_THRESHOLD=3)
    fail_times(breaker, 1)
    assert breaker.state == OPEN
    set_config(CIRCUIT_BREAKER_TIMEOUT_SECS=5)
    clock.advance(5)
    assert breaker.call(get_config(), lambda: "probe") == "probe"
    assert breaker.state == CLOSED


@pytest.mark.django_db(transaction=True)
def test_breaker__disabling_closes_and_passes_through(breaker, set_config) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    fail_times(breaker, 1)
    assert breaker.state == OPEN
    set_config(CIRCUIT_BREAKER_ENABLED=False)
    assert breaker.call(get_config(), lambda: "direct") == "direct"
    assert breaker.state == CLOSED
    fail_times(breaker, 3)
    assert breaker.state == CLOSED


@pytest.mark.django_db(transaction=True)
def test_breaker__terminated_backend_opens_it_and_events_wait_for_recovery(
    breaker, set_config, producer, clock: FakeClock
) -> None:
    """pg_terminate_backend kills the store's connection mid-session."""
    set_config(CIRCUIT_BREAKER_THRESHOLD=1, CIRCUIT_BREAKER_TIMEOUT_SECS=10)
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    dsn = {
        key: value
        for key, value in connection.get_connection_params().items()
        if key in ("host", "port", "user", "password")
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    with pytest.raises(DatabaseError):
        breaker.call(
            get_config(),
            services.message_store,
            payload=result_json(5000),
            producer=producer_of(producer),
            config=get_config(),
        )

    assert breaker.state == OPEN
    connection.close()  # what close_old_connections does between calls
    clock.advance(10)
    stored = breaker.call(
        get_config(),
        services.message_store,
        payload=result_json(5000),
        producer=producer_of(producer),
        config=get_config(),
    )
    assert breaker.state == CLOSED
    assert Message.objects.get().transaction_id == stored.transaction_id
    kinds = set(BusEvent.objects.values_list("kind", flat=True))
    assert {"breaker_opened", "breaker_closed", "stored"} <= kinds
