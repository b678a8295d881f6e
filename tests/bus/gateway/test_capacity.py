"""The capacity seam's in-process implementation: scopes, release, rejections."""

from __future__ import annotations

from typing import Any

from bus.gateway.state.capacity import Limits, Rejection, Slot
from bus.gateway.state.memory import MemoryCapacity


def _limits(**overrides: Any) -> Limits:
    values = {
        "global_max": 2,
        "provider": "p",
        "provider_max": 0,
        "session_id": "s",
        "session_max": 2,
        "retry_floor": 0.5,
    }
    return Limits(**{**values, **overrides})


async def test_memory_capacity__checks_global_then_provider_then_session() -> None:
    limiter = MemoryCapacity()
    first = await limiter.acquire(_limits(global_max=1, provider_max=1, session_max=1))
    assert isinstance(first, Slot)
    full = await limiter.acquire(_limits(global_max=1, provider_max=1, session_max=1))
    assert full == Rejection("global", 0.5)
    provider = await limiter.acquire(_limits(provider_max=1, session_max=1))
    assert isinstance(provider, Rejection) and provider.scope == "provider"
    session = await limiter.acquire(_limits(provider="q", session_max=1))
    assert isinstance(session, Rejection) and session.scope == "session"
    other_session = await limiter.acquire(_limits(provider="q", session_id="t"))
    assert isinstance(other_session, Slot)
    assert await limiter.global_inflight() == 2


async def test_memory_capacity__release_is_idempotent_and_records_rejections() -> None:
    limiter = MemoryCapacity()
    slot = await limiter.acquire(_limits(global_max=1))
    await limiter.acquire(_limits(global_max=1))
    await limiter.release(slot)
    await limiter.release(slot)
    assert await limiter.global_inflight() == 0
    snapshot = await limiter.snapshot(
        global_max=1, provider_limits={"p": 0}, session_max=2, session_ids=["s"]
    )
    assert snapshot.global_usage.used == 0
    assert [r.scope for r in snapshot.rejections] == ["global"]
