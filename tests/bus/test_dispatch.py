"""The call pipeline without a socket: capacity, outputs, registry, delivery, drain."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from bus import registry
from bus.calls import Agent, Session
from bus.capacity import InProcessLimiter, Limits, Rejection, Slot
from bus.dispatch import Gateway
from bus.protocol import CallRequest, normalize_tool_name
from bus.results import ResultCache, replay_key, semantic_key
from bus.tools.runners import to_outputs

pytestmark = pytest.mark.django_db(transaction=True)


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


async def test_limiter__checks_global_then_provider_then_session() -> None:
    limiter = InProcessLimiter()
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
    assert limiter.global_inflight == 2


async def test_limiter__release_is_idempotent_and_records_rejections() -> None:
    limiter = InProcessLimiter()
    slot = await limiter.acquire(_limits(global_max=1))
    await limiter.acquire(_limits(global_max=1))
    await limiter.release(slot)
    await limiter.release(slot)
    assert limiter.global_inflight == 0
    snapshot = limiter.snapshot(
        global_max=1, provider_limits={"p": 0}, session_max=2, session_ids=["s"]
    )
    assert snapshot.global_usage.used == 0
    assert [r.scope for r in snapshot.rejections] == ["global"]


def test_to_outputs__shapes() -> None:
    text = [{"type": "text", "text": ""}]
    assert (
        to_outputs(None) == text and to_outputs([]) == text and to_outputs("") == text
    )
    assert to_outputs("x") == [{"type": "text", "text": "x"}]
    assert to_outputs({"outputs": [{"type": "text", "text": "y"}]}) == [
        {"type": "text", "text": "y"}
    ]
    assert to_outputs({"a": 1}) == [{"type": "text", "text": '{"a": 1}'}]


def test_normalize_tool_name__strips_one_suffix() -> None:
    suffixes = ("_EXAI-WS", "-EXAI_WS")
    assert normalize_tool_name("chat_EXAI-WS", suffixes) == "chat"
    assert normalize_tool_name("chat-EXAI_WS", suffixes) == "chat"
    assert normalize_tool_name("_EXAI-WS", suffixes) == "_EXAI-WS"
    assert normalize_tool_name("chat", suffixes) == "chat"


class Recorder:
    """A session transport that keeps every frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def __call__(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def result(self, request_id: str) -> dict[str, Any]:
        return next(
            f
            for f in self.frames
            if f["op"] == "call_tool_res" and f["request_id"] == request_id
        )


async def _call(gateway: Gateway, session: Session, name: str, **arguments: Any):
    await gateway.call_tool(
        session,
        CallRequest(name=name, request_id=name, arguments=arguments),
        time.perf_counter(),
    )
    while gateway.tasks:
        await next(iter(gateway.tasks))


def _session(gateway: Gateway, recorder: Recorder) -> Session:
    return gateway.open_session(
        agent=Agent(key="a1", id=None, name="test"), transport=recorder, token_hash=None
    )


async def test_gateway__result_too_big_for_a_frame_is_never_dropped(
    gateway, ws_config
) -> None:
    ws_config(WS_MAX_MESSAGE_BYTES=64 * 1024)
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "generate", bytes=100_000)
    error = recorder.result("generate")["error"]
    assert error["code"] == "BUS_UNAVAILABLE"
    assert "100" in error["message"]


async def test_gateway__sync_tool_is_answered_at_its_deadline(
    gateway, make_tool
) -> None:
    await sync_to_async(make_tool)(
        "block", "tests.bus.sample_tools.block", timeout_secs=0.1
    )
    recorder = Recorder()
    started = time.monotonic()
    await _call(gateway, _session(gateway, recorder), "block", seconds=1)
    assert recorder.result("block")["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 0.9
    assert gateway.capacity.global_inflight == 0


async def test_gateway__drain_cancels_calls_past_the_grace(gateway) -> None:
    recorder = Recorder()
    session = _session(gateway, recorder)
    await gateway.call_tool(
        session,
        CallRequest(name="sleep", request_id="long", arguments={"seconds": 30}),
        time.perf_counter(),
    )
    assert await gateway.drain(0.05) == 1
    assert recorder.result("long")["error"] == {
        "code": "CANCELLED",
        "message": "server shutting down",
    }
    await gateway.call_tool(
        session,
        CallRequest(name="echo", request_id="late", arguments={"text": "x"}),
        time.perf_counter(),
    )
    assert recorder.result("late")["error"]["code"] == "OVER_CAPACITY"
    assert gateway.capacity.global_inflight == 0


@pytest.mark.django_db(transaction=True)
def test_registry__keeps_last_known_tools_when_database_is_down(
    builtin_tools, caplog, ws_config
) -> None:
    ws_config(CONFIG_REFRESH_SECS=0.1)
    registry.invalidate()
    known = registry.get_registry()
    assert "echo" in known.tools

    real_port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = "1"  # the database goes away for real
    connection.close()
    registry._holder.checked_at = 0.0
    try:
        with caplog.at_level(logging.WARNING):
            assert registry.get_registry() is known
    finally:
        connection.settings_dict["PORT"] = real_port
        connection.close()
    assert "keeping last known tools" in caplog.text
    registry.invalidate()


def test_registry__sees_admin_changes_after_refresh(builtin_tools, ws_config) -> None:
    from bus.models import Tool

    registry.invalidate()
    assert "echo" in registry.get_registry().tools
    Tool.objects.filter(name="echo").update(enabled=False)
    registry._holder.checked_at = 0.0
    assert "echo" not in registry.get_registry().tools
    registry.invalidate()


@pytest.mark.skipif(
    not os.environ.get("REDIS_TEST_URL"), reason="needs REDIS_TEST_URL (make test)"
)
async def test_result_cache__works_on_redis() -> None:
    """The caches use Django's async cache API on Redis, keyed by agent."""
    from django.core.cache.backends.redis import RedisCache

    results = ResultCache()
    results._cache = RedisCache(os.environ["REDIS_TEST_URL"], {})
    replay, semantic = replay_key("a1", "r-1"), semantic_key("a1", "echo", "{}")
    await results.store({"outputs": []}, replay=replay, semantic=semantic, ttl=5)
    assert await results.lookup(replay, semantic) == ({"outputs": []}, {"outputs": []})
    other = replay_key("a2", "r-1")
    assert await results.lookup(other, None) == (None, None)
    await results.cache.adelete_many([replay, semantic])
