"""Worker ids and the per-worker run-time files of `serve --workers`."""

import os
import socket

import pytest

from bus.gateway.worker import worker_id, worker_path


def test_worker_id__is_hostname_and_pid() -> None:
    assert worker_id() == f"{socket.gethostname()}:{os.getpid()}"


def test_worker_id__a_forked_child_names_its_own_pid() -> None:
    """The id is computed once per process, so a fork must not inherit it."""
    parent = worker_id()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.write(write_end, worker_id().encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read().decode()
    os.waitpid(child, 0)
    assert reported == f"{socket.gethostname()}:{child}"
    assert worker_id() == parent


@pytest.mark.parametrize(
    ("configured", "index", "expected"),
    [
        ("logs/ws_daemon.health.json", 1, "logs/ws_daemon.health.w1.json"),
        ("logs/ws_daemon.metrics.jsonl", 2, "logs/ws_daemon.metrics.w2.jsonl"),
        ("/abs/run/serve-8000.pid", 3, "/abs/run/serve-8000.w3.pid"),
        ("health", 1, "health.w1"),
    ],
)
def test_worker_path__one_file_per_worker_beside_the_configured_one(
    configured: str, index: int, expected: str
) -> None:
    assert worker_path(configured, index=index, count=3) == expected


def test_worker_path__a_single_worker_keeps_the_configured_path() -> None:
    path = "logs/ws_daemon.health.json"
    assert worker_path(path, index=1, count=1) == path
