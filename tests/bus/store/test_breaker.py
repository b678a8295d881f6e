"""The circuit breaker against real database failures, with an injected clock."""

import logging

import psycopg
import pytest
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    ProgrammingError,
    connection,
)

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


def _nul_lookup() -> None:
    """A query psycopg refuses for its input: PostgreSQL text cannot hold NUL."""
    Message.objects.filter(transaction_id="txn_\x00").first()


def _bad_sql() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM message_bus")


def _duplicate_row(producer) -> None:
    stored = services.message_store(
        payload=result_json(5000), producer=producer_of(producer), config=get_config()
    )
    Message.objects.create(
        transaction_id=stored.transaction_id,
        payload_size_bytes=1,
        compressed_size_bytes=1,
        checksum="0" * 64,
        expires_at=stored.expires_at,
    )


def _closed_cursor() -> None:
    cursor = connection.cursor()
    cursor.close()
    cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True)
def test_breaker__errors_caused_by_input_or_code_are_not_counted(
    breaker, set_config, producer
) -> None:
    """DataError, ProgrammingError and IntegrityError prove no outage."""
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    for fn, error in (
        (_nul_lookup, DataError),
        (_bad_sql, ProgrammingError),
        (lambda: _duplicate_row(producer), IntegrityError),
    ):
        for _ in range(3):
            with pytest.raises(error):
                breaker.call(get_config(), fn)
    assert breaker.state == CLOSED
    assert not BusEvent.objects.filter(kind=BusEvent.Kind.BREAKER_OPENED).exists()


@pytest.mark.django_db(transaction=True)
def test_breaker__interface_errors_count(breaker, set_config) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    with pytest.raises(InterfaceError):
        breaker.call(get_config(), _closed_cursor)
    assert breaker.state == OPEN


@pytest.mark.django_db(transaction=True)
def test_breaker__input_errors_between_outages_do_not_reset_the_count(
    breaker, set_config
) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=2)
    fail_times(breaker, 1)
    with pytest.raises(DataError):
        breaker.call(get_config(), _nul_lookup)
    fail_times(breaker, 1)
    assert breaker.state == OPEN


@pytest.mark.django_db(transaction=True)
def test_breaker__input_error_as_probe_neither_closes_nor_reopens(
    breaker, set_config, clock: FakeClock
) -> None:
    """A half-open probe refused for its input lets the next call probe."""
    set_config(CIRCUIT_BREAKER_THRESHOLD=1, CIRCUIT_BREAKER_TIMEOUT_SECS=10)
    fail_times(breaker, 1)
    clock.advance(10)
    with pytest.raises(DataError):
        breaker.call(get_config(), _nul_lookup)
    assert breaker.state == HALF_OPEN
    assert breaker.call(get_config(), lambda: "probe") == "probe"
    assert breaker.state == CLOSED
