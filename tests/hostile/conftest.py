"""Fixtures for hostile-client tests: a real server reached over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.servers import Server, free_port


@pytest.fixture
def control_plane(tmp_path, builtin_tools) -> Iterator[Callable[..., Server]]:
    """Start `manage.py serve` with extra environment; every one stopped at the end.

    Call it as `control_plane(WS_AUTH_FAILURES_PER_MINUTE="3")`; the server
    shares the test's database, so rows the test writes are the server's.
    """
    started: list[Server] = []

    def start(kind: str = "daphne", **environment: str) -> Server:
        server = Server(tmp_path / str(len(started)), free_port(), kind, **environment)
        server.health.parent.mkdir(parents=True, exist_ok=True)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
