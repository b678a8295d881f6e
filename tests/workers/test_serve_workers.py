"""`serve --workers 2`: one port, two processes, each with its own files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.servers import Server
from tests.workers.clients import health, hello

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WORKERS = 2
# Connections until both workers have answered: the kernel gives each one to
# whichever worker accepts first, so a few may land on the same one.
MAX_CONNECTIONS = 40
FILE_TIMEOUT_SECS = 20
HEALTH_FILE_MAX_AGE_SECS = 20


def _worker_files(server: Server) -> list[Path]:
    return [
        path.with_name(f"{path.stem}.w{index}{path.suffix}")
        for path in (server.health, server.pid_file)
        for index in range(1, WORKERS + 1)
    ]


def _wait_for(paths: list[Path]) -> None:
    deadline = time.monotonic() + FILE_TIMEOUT_SECS
    while not all(path.exists() for path in paths):
        assert time.monotonic() < deadline, [str(p) for p in paths if not p.exists()]
        time.sleep(0.1)


async def _workers_answering(port: int, token: str) -> tuple[set[str], list[Any]]:
    """Open sessions until two workers answered health; return their ids."""
    seen: set[str] = set()
    opened = []
    while len(seen) < WORKERS and len(opened) < MAX_CONNECTIONS:
        ws = await ws_connect(f"ws://127.0.0.1:{port}/ws/", close_timeout=1)
        opened.append(ws)
        assert (await hello(ws, token))["ok"] is True
        seen.add((await health(ws))["worker"])
    return seen, opened


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_serve_workers__two_processes_answer_on_one_port_and_stop_cleanly(
    control_plane, agent, kind
) -> None:
    server = control_plane(kind, workers=WORKERS)
    worker_files = _worker_files(server)
    _wait_for(worker_files)

    async def scenario() -> tuple[set[str], list[int | None]]:
        seen, opened = await _workers_answering(server.port, agent[1])
        # SIGTERM goes to the parent only; it forwards it and the workers
        # drain, closing their sessions with 1001.
        await asyncio.to_thread(server.stop)
        await asyncio.gather(*(ws.wait_closed() for ws in opened))
        return seen, [ws.close_code for ws in opened]

    records = [json.loads(path.read_text()) for path in worker_files[:WORKERS]]
    assert all(
        time.time() - record["t"] < HEALTH_FILE_MAX_AGE_SECS for record in records
    )
    assert all(record["port"] == server.port for record in records)
    seen, closes = asyncio.run(scenario())
    hostname = socket.gethostname()
    assert seen == {f"{hostname}:{record['pid']}" for record in records}
    assert server.process.returncode == 0
    assert set(closes) == {1001}
    assert not [str(path) for path in [*worker_files, server.pid_file] if path.exists()]
    assert not server.health.exists()


def test_serve_workers__a_worker_that_dies_stops_the_deployment_non_zero(
    control_plane,
) -> None:
    server = control_plane("uvicorn", workers=WORKERS)
    worker_files = _worker_files(server)
    _wait_for(worker_files)
    victim = int(worker_files[WORKERS].read_text())
    os.kill(victim, signal.SIGKILL)
    # Nothing is restarted: the other worker drains, the parent exits 1.
    assert server.process.wait(timeout=FILE_TIMEOUT_SECS) == 1
    assert not worker_files[1].exists() and not server.pid_file.exists()
    assert "exited with -9; stopping the others" in server.log.read_text()
