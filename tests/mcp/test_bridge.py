"""The stdio bridge end to end: the MCP SDK's stdio client launches it, it calls a
real `manage.py serve` over the WebSocket."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from websockets.asyncio.client import connect as ws_connect

from bus.models import Message
from tests.servers import ROOT, Server, database_url
from tests.workers.clients import health, hello

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MIB = 1024 * 1024
TOKEN_VARIABLE = "CONTROL_PLANE_TOKEN"
LAUNCHES = {
    "module": [sys.executable, "-m", "bus.mcp_bridge"],
    "command": [sys.executable, "manage.py", "mcp_bridge"],
}
PROGRESS_TIMEOUT_SECS = 10


@asynccontextmanager
async def bridge_session(
    port: int, token: str, log: Path, launch: str = "module", *extra: str
) -> AsyncIterator[ClientSession]:
    """Yield an SDK session with the bridge, launched as an MCP client launches it."""
    command, *args = LAUNCHES[launch]
    parameters = StdioServerParameters(
        command=command,
        args=[
            *args,
            "--url",
            f"ws://127.0.0.1:{port}/ws/",
            "--token-env",
            TOKEN_VARIABLE,
            *extra,
        ],
        # What a client configuration passes: the token, and for the command
        # the project's environment (its settings need no database).
        env={TOKEN_VARIABLE: token, "DATABASE_URL": database_url()},
        cwd=str(ROOT),
    )
    with log.open("w") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
async def test_bridge__lists_calls_with_progress_and_resolves_bus_results(
    control_plane, agent, tmp_path, launch
) -> None:
    server = control_plane()
    log = tmp_path / "bridge.log"
    async with bridge_session(server.port, agent[1], log, launch) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"echo", "sleep", "generate"} <= set(listed)
        assert listed["generate"].input_schema["properties"]["bytes"]

        echoed = await session.call_tool("echo", {"text": "over stdio"})
        assert echoed.content[0].text == "over stdio"

        progress: list[float] = []

        async def heard(value: float, total: float | None, message: str | None):
            progress.append(value)

        slept = await session.call_tool(
            "sleep", {"seconds": 0.5}, progress_callback=heard
        )
        assert slept.content[0].text == "slept 0.5"
        assert len(progress) >= 3 and progress == sorted(progress)

        size = 3 * MIB
        generated = await session.call_tool("generate", {"bytes": size, "seed": 3})
        assert not generated.is_error
        assert [block.type for block in generated.content] == ["text"]
        text = generated.content[0].text
        assert len(text) == size and "txn_" not in text and "retrieval" not in text

        unknown = await session.call_tool("no_such_tool", {})
        assert unknown.is_error
        assert unknown.content[0].text.startswith("TOOL_NOT_FOUND: ")
    # Fetched in chunks, verified, then released at once (bus_ack).
    assert not await Message.objects.aexists()
    # stdout carried MCP only; the bridge logged on stderr.
    assert "Connected to ws://" in log.read_text()


async def test_bridge__refuses_to_start_without_a_token(tmp_path) -> None:
    process = await asyncio.create_subprocess_exec(
        *LAUNCHES["module"],
        "--url",
        "ws://127.0.0.1:9/ws/",
        "--token-env",
        "NO_SUCH_VARIABLE_FOR_THE_BRIDGE",
        cwd=ROOT,
        env={
            k: v
            for k, v in os.environ.items()
            if k != "NO_SUCH_VARIABLE_FOR_THE_BRIDGE"
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert stdout == b""
    assert b"NO_SUCH_VARIABLE_FOR_THE_BRIDGE holds no agent token" in stderr


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
async def test_bridge__a_call_survives_the_gateway_restarting(
    control_plane, agent, tmp_path, stop
) -> None:
    """The gateway is killed (or stopped, cancelling its calls after the grace)
    mid-call and started again on the same port."""
    server = control_plane()
    log = tmp_path / "bridge.log"
    async with bridge_session(
        server.port, agent[1], log, "module", "--reconnect-max-secs", "0.5"
    ) as session:
        heard_once = asyncio.Event()

        async def heard(value: float, total: float | None, message: str | None):
            heard_once.set()

        call = asyncio.create_task(
            session.call_tool("sleep", {"seconds": 2}, progress_callback=heard)
        )
        await asyncio.wait_for(heard_once.wait(), PROGRESS_TIMEOUT_SECS)
        server.process.send_signal(stop)
        server.process.wait()
        restarted = Server(tmp_path / "restarted", server.port)
        (tmp_path / "restarted").mkdir()
        restarted.start()
        try:
            result = await asyncio.wait_for(call, 60)
            assert not result.is_error
            assert result.content[0].text == "slept 2"
            # The bridge keeps working on the new gateway.
            echoed = await session.call_tool("echo", {"text": "still here"})
            assert echoed.content[0].text == "still here"
        finally:
            restarted.stop()
    logged = log.read_text()
    assert "unreachable" in logged
    if stop == signal.SIGTERM:
        # Cancelled by the shutdown after the grace, then sent again.
        assert "interrupted by a gateway shutdown" in logged


async def test_bridge__retries_over_capacity_a_bounded_number_of_times(
    control_plane, agent, tmp_path
) -> None:
    server = control_plane(WS_SESSION_MAX_INFLIGHT="1", WS_RETRY_AFTER_SECS="0.2")
    retrying = bridge_session(
        server.port,
        agent[1],
        tmp_path / "retrying.log",
        "module",
        "--capacity-retries",
        "50",
    )
    async with retrying as session:
        slow = asyncio.create_task(session.call_tool("sleep", {"seconds": 1}))
        await asyncio.sleep(0.3)
        # Refused while the sleep holds the session's one slot, then retried.
        echoed = await session.call_tool("echo", {"text": "after the sleep"})
        assert echoed.content[0].text == "after the sleep"
        assert (await slow).content[0].text == "slept 1"
    assert "over capacity" in (tmp_path / "retrying.log").read_text()
    giving_up = bridge_session(
        server.port,
        agent[1],
        tmp_path / "giving-up.log",
        "module",
        "--capacity-retries",
        "0",
    )
    async with giving_up as session:
        slow = asyncio.create_task(session.call_tool("sleep", {"seconds": 1.5}))
        await asyncio.sleep(0.3)
        refused = await session.call_tool("echo", {"text": "too soon"})
        assert refused.is_error
        assert refused.content[0].text.startswith("OVER_CAPACITY: ")
        await slow


async def test_bridge__cancel_ends_the_call_on_the_gateway(
    control_plane, agent, tmp_path
) -> None:
    server = control_plane()
    async with bridge_session(server.port, agent[1], tmp_path / "b.log") as session:
        started = asyncio.Event()

        async def heard(value: float, total: float | None, message: str | None):
            started.set()

        call = asyncio.create_task(
            session.call_tool("sleep", {"seconds": 60}, progress_callback=heard)
        )
        await asyncio.wait_for(started.wait(), PROGRESS_TIMEOUT_SECS)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)

        async def nothing_in_flight() -> bool:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
                await hello(ws, agent[1])
                return (await health(ws))["global_inflight"] == 0

        deadline = asyncio.get_running_loop().time() + PROGRESS_TIMEOUT_SECS
        while not await nothing_in_flight():
            assert asyncio.get_running_loop().time() < deadline, "still running"
            await asyncio.sleep(0.1)
        assert (await session.call_tool("echo", {"text": "on"})).content[0].text == "on"


async def test_bridge__a_refused_token_is_a_clear_error(
    control_plane, tmp_path
) -> None:
    server = control_plane()
    log = tmp_path / "bridge.log"
    async with bridge_session(server.port, "not-a-valid-token", log) as session:
        with pytest.raises(MCPError) as listing:
            await session.list_tools()
        assert listing.value.message.startswith("UNAUTHORIZED: ")
        called = await session.call_tool("echo", {"text": "x"})
        assert called.is_error
        assert called.content[0].text.startswith("UNAUTHORIZED: ")
    assert "Giving up on ws://" in log.read_text()


def test_bridge__imports_no_django() -> None:
    """It runs next to an MCP client, without the project's settings."""
    probe = (
        "import sys, bus.mcp_bridge.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'channels', 'controlplane'}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "[]"
