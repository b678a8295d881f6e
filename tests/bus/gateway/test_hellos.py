"""Failed hellos rate limited per address, through the routed application."""

from __future__ import annotations

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY

from bus.gateway.state.hello_failures import WINDOW_SECS, MemoryHelloFailures
from bus.gateway.worker import worker_id
from tests.bus.conftest import FakeClock

pytestmark = pytest.mark.django_db(transaction=True)

BAD = json.dumps({"op": "hello", "token": "not-the-token-" + "q" * 30})


@pytest.fixture
def hello_clock(gateway) -> FakeClock:
    """The clock of the test gateway's failed-hello window."""
    clock = FakeClock()
    gateway.hello_failures = MemoryHelloFailures(clock=clock)
    return clock


async def _hello(application, text: str) -> tuple[dict, int]:
    """Send one first frame; return the hello_ack and the close code (None if open)."""
    comm = WebsocketCommunicator(application, "/ws/")
    await comm.connect()
    await comm.send_to(text_data=text)
    reply = await comm.receive_json_from()
    closed = None if reply["ok"] else (await comm.receive_output())["code"]
    await comm.disconnect()
    return reply, closed


def _valid(agent) -> str:
    return json.dumps({"op": "hello", "token": agent[1]})


def _refusals(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "controlplane_ws_hello_refusals_total",
        {"reason": reason, "worker": worker_id()},
    )
    return value or 0.0


async def test_hellos__limited_after_the_limit_until_failures_leave_the_minute(
    ws_application, agent, ws_config, hello_clock
) -> None:
    ws_config(WS_AUTH_FAILURES_PER_MINUTE=2)
    for _ in range(2):
        reply, closed = await _hello(ws_application, BAD)
        assert (reply["error"], closed) == ("unauthorized", 4003)
    reply, closed = await _hello(ws_application, _valid(agent))
    assert reply == {"op": "hello_ack", "ok": False, "error": "rate_limited"}
    assert closed == 1013
    hello_clock.advance(WINDOW_SECS - 1)
    assert (await _hello(ws_application, _valid(agent)))[0]["ok"] is False
    hello_clock.advance(1)
    assert (await _hello(ws_application, _valid(agent)))[0]["ok"] is True


async def test_hellos__invalid_and_missing_hellos_count(
    ws_application, agent, ws_config, hello_clock
) -> None:
    ws_config(WS_AUTH_FAILURES_PER_MINUTE=2)
    assert (await _hello(ws_application, "[1, 2]"))[0]["error"] == "invalid_hello"
    missing = json.dumps({"op": "list_tools"})
    assert (await _hello(ws_application, missing))[0]["error"] == "missing_hello"
    assert (await _hello(ws_application, _valid(agent)))[0]["error"] == "rate_limited"


async def test_hellos__refusals_while_limited_do_not_prolong_it(
    ws_application, agent, ws_config, hello_clock
) -> None:
    ws_config(WS_AUTH_FAILURES_PER_MINUTE=1)
    await _hello(ws_application, BAD)
    hello_clock.advance(WINDOW_SECS / 2)
    for _ in range(5):
        assert (await _hello(ws_application, BAD))[0]["error"] == "rate_limited"
    hello_clock.advance(WINDOW_SECS / 2)
    assert (await _hello(ws_application, _valid(agent)))[0]["ok"] is True


async def test_hellos__unavailable_and_timeouts_do_not_count(
    ws_application, agent, ws_config, hello_clock, database_down
) -> None:
    ws_config(WS_AUTH_FAILURES_PER_MINUTE=1, WS_HELLO_TIMEOUT_SECS=0.1)
    with database_down:
        assert (await _hello(ws_application, _valid(agent)))[0]["error"] == (
            "unavailable"
        )
    comm = WebsocketCommunicator(ws_application, "/ws/")
    await comm.connect()
    assert (await comm.receive_output(timeout=2))["code"] == 4002
    await comm.disconnect()
    assert (await _hello(ws_application, _valid(agent)))[0]["ok"] is True


async def test_hellos__each_failure_is_logged_with_the_address_and_counted(
    ws_application, agent, hello_clock, caplog
) -> None:
    before = {r: _refusals(r) for r in ("unauthorized", "invalid_hello")}
    with caplog.at_level(logging.WARNING, logger="bus.gateway.hellos"):
        await _hello(ws_application, BAD)
        await _hello(ws_application, "not json")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    # The communicator's scope has no peer: its address is "unknown".
    assert warnings[0].startswith("Refused a hello from unknown: unauthorized")
    assert warnings[1].startswith("Refused a hello from unknown: invalid_hello")
    assert "not-the-token" not in caplog.text
    assert _refusals("unauthorized") == before["unauthorized"] + 1
    assert _refusals("invalid_hello") == before["invalid_hello"] + 1
