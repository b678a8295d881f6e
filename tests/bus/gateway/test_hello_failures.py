"""The failed-hello seam: a sliding one-minute window per address, on a fake clock."""

from __future__ import annotations

from bus.gateway.state.hello_failures import WINDOW_SECS, MemoryHelloFailures
from tests.bus.conftest import FakeClock


async def test_hello_failures__count_per_address_within_the_window() -> None:
    failures = MemoryHelloFailures(clock=FakeClock())
    assert await failures.record("192.0.2.1") == 1
    assert await failures.record("192.0.2.1") == 2
    assert await failures.record("192.0.2.2") == 1
    assert await failures.count("192.0.2.1") == 2
    assert await failures.count("192.0.2.3") == 0


async def test_hello_failures__leave_the_window_one_by_one() -> None:
    clock = FakeClock()
    failures = MemoryHelloFailures(clock=clock)
    await failures.record("192.0.2.1")
    clock.advance(30)
    await failures.record("192.0.2.1")
    clock.advance(WINDOW_SECS - 30 - 0.001)
    assert await failures.count("192.0.2.1") == 2
    clock.advance(0.001)
    assert await failures.count("192.0.2.1") == 1
    clock.advance(30)
    assert await failures.count("192.0.2.1") == 0


async def test_hello_failures__an_address_that_stopped_failing_starts_from_zero() -> (
    None
):
    clock = FakeClock()
    failures = MemoryHelloFailures(clock=clock)
    for _ in range(5):
        await failures.record("192.0.2.1")
    clock.advance(WINDOW_SECS * 3)
    assert await failures.record("192.0.2.2") == 1
    assert await failures.record("192.0.2.1") == 1
