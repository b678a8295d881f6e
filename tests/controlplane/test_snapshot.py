"""RefreshingSnapshot: stale-while-revalidate over a real table, outages included."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from django.db.models import Max

from controlplane.models import ConfigChange
from controlplane.snapshot import RefreshingSnapshot

FALLBACK = ("fallback",)


class ChangeLog:
    """A snapshot of the keys in ConfigChange that records what it read."""

    def __init__(self) -> None:
        self.interval = 3600.0
        self.versions_read = 0
        self.loads: list[int] = []
        self.fail_load_with: Exception | None = None
        # Set both to hold read_version until the test lets it go.
        self.entered: threading.Event | None = None
        self.gate: threading.Event | None = None
        self.snapshot: RefreshingSnapshot[tuple[str, ...]] = RefreshingSnapshot(
            name="the change log",
            read_version=self.read_version,
            load=self.load,
            interval=lambda: self.interval,
            fallback=lambda: FALLBACK,
        )

    def read_version(self) -> int:
        self.versions_read += 1
        if self.entered is not None and self.gate is not None:
            self.entered.set()
            assert self.gate.wait(timeout=10)
        return ConfigChange.objects.aggregate(newest=Max("id"))["newest"] or 0

    def load(self, version: int) -> tuple[str, ...]:
        self.loads.append(version)
        if self.fail_load_with is not None:
            raise self.fail_load_with
        return tuple(ConfigChange.objects.order_by("id").values_list("key", flat=True))


def _change(key: str) -> int:
    return ConfigChange.objects.create(key=key, action="set", reason="test").pk


async def _after_background_refresh() -> None:
    # Thread-sensitive calls share one thread, so this runs after the refresh
    # that is already running there.
    await database_sync_to_async(lambda: None)()


@pytest.fixture
def change_log() -> ChangeLog:
    return ChangeLog()


@pytest.fixture
def warnings_of(caplog) -> Callable[[], list[logging.LogRecord]]:
    """Return the WARNING records the snapshot logged so far."""

    def collect() -> list[logging.LogRecord]:
        return [
            record
            for record in caplog.records
            if record.name == "controlplane.snapshot"
            and record.levelno == logging.WARNING
        ]

    return collect


@pytest.mark.django_db
def test_refreshing_snapshot__serves_without_queries_within_interval(
    change_log, django_assert_num_queries
):
    first = _change("A")
    assert change_log.snapshot.current is None
    assert change_log.snapshot.get() == ("A",)
    _change("B")
    with django_assert_num_queries(0):
        assert change_log.snapshot.get() == ("A",)
        assert change_log.snapshot.current == ("A",)
    assert (change_log.versions_read, change_log.loads) == (1, [first])


@pytest.mark.django_db
def test_refreshing_snapshot__unchanged_version_keeps_the_value(
    change_log, django_assert_num_queries
):
    _change("A")
    value = change_log.snapshot.get()
    change_log.interval = 0
    with django_assert_num_queries(1):
        assert change_log.snapshot.get() is value
    assert (change_log.versions_read, len(change_log.loads)) == (2, 1)


@pytest.mark.django_db
def test_refreshing_snapshot__changed_version_reloads_and_logs(change_log, caplog):
    first = _change("A")
    change_log.snapshot.get()
    second = _change("B")
    change_log.interval = 0
    with caplog.at_level(logging.INFO, logger="controlplane.snapshot"):
        assert change_log.snapshot.get() == ("A", "B")
    assert change_log.loads == [first, second]
    assert "Reloaded the change log" in caplog.messages


@pytest.mark.django_db
def test_refreshing_snapshot__invalidate_makes_the_next_read_load(change_log):
    first = _change("A")
    change_log.snapshot.get()
    change_log.snapshot.invalidate()
    assert change_log.snapshot.current is None
    assert change_log.snapshot.get() == ("A",)
    assert change_log.loads == [first, first]


def test_refreshing_snapshot__outage_before_first_load_serves_fallback(
    change_log, database_down, warnings_of
):
    database_down.start()
    assert change_log.snapshot.get() == FALLBACK
    (warning,) = warnings_of()
    assert warning.getMessage() == (
        "Cannot read the change log; keeping last known values"
    )
    assert warning.exc_info is not None
    assert change_log.loads == []


def test_refreshing_snapshot__outage_keeps_last_known_value_then_recovers(
    change_log, database_down, warnings_of
):
    _change("A")
    assert change_log.snapshot.get() == ("A",)
    change_log.interval = 0
    database_down.start()
    assert change_log.snapshot.get() == ("A",)
    assert change_log.snapshot.current == ("A",)
    (warning,) = warnings_of()
    assert "the change log" in warning.getMessage() and warning.exc_info is not None
    database_down.stop()
    _change("B")
    assert change_log.snapshot.get() == ("A", "B")


def test_refreshing_snapshot__fallback_is_replaced_once_the_database_is_back(
    change_log, database_down
):
    database_down.start()
    assert change_log.snapshot.get() == FALLBACK
    database_down.stop()
    change_log.interval = 0
    _change("A")
    assert change_log.snapshot.get() == ("A",)


@pytest.mark.django_db(transaction=True)
async def test_refreshing_snapshot__aget_awaits_only_the_first_load(change_log):
    await database_sync_to_async(_change)("A")
    assert await change_log.snapshot.aget() == ("A",)
    await database_sync_to_async(_change)("B")
    assert await change_log.snapshot.aget() == ("A",)  # within the interval
    assert change_log.versions_read == 1


@pytest.mark.django_db(transaction=True)
async def test_refreshing_snapshot__one_background_refresh_for_many_callers(
    change_log,
):
    """Stale readers get the last value at once while a single refresh runs."""
    await database_sync_to_async(_change)("A")
    assert await change_log.snapshot.aget() == ("A",)
    await database_sync_to_async(_change)("B")
    change_log.interval = 0
    change_log.entered, change_log.gate = threading.Event(), threading.Event()

    served = await asyncio.gather(*(change_log.snapshot.aget() for _ in range(50)))
    assert await asyncio.to_thread(change_log.entered.wait, 10)
    served += await asyncio.gather(*(change_log.snapshot.aget() for _ in range(50)))
    change_log.gate.set()
    await _after_background_refresh()

    assert served == [("A",)] * 100
    assert change_log.versions_read == 2 and len(change_log.loads) == 2
    assert change_log.snapshot.current == ("A", "B")


@pytest.mark.django_db(transaction=True)
async def test_refreshing_snapshot__failed_background_refresh_is_logged(
    change_log, caplog
):
    await database_sync_to_async(_change)("A")
    assert await change_log.snapshot.aget() == ("A",)
    await database_sync_to_async(_change)("B")
    change_log.interval = 0
    change_log.fail_load_with = RuntimeError("broken loader")
    change_log.entered, change_log.gate = threading.Event(), threading.Event()
    change_log.gate.set()

    assert await change_log.snapshot.aget() == ("A",)
    assert await asyncio.to_thread(change_log.entered.wait, 10)
    await _after_background_refresh()
    errors: list[logging.LogRecord] = []
    for _ in range(100):  # the done callback runs on one of the loop's next turns
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        if errors:
            break
        await asyncio.sleep(0)

    (error,) = errors
    assert error.getMessage() == "Refreshing the change log failed"
    assert isinstance(error.exc_info[1], RuntimeError)
    assert change_log.snapshot.current == ("A",)
