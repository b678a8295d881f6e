"""Fixtures for real `serve` processes, one or several workers each."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.servers import Server, free_port


@pytest.fixture
def serve(tmp_path, builtin_tools) -> Iterator[Callable[..., Server]]:
    """Start `manage.py serve`; every one still running is stopped at the end."""
    started: list[Server] = []

    def start(kind: str = "daphne", workers: int = 1, **environment: str) -> Server:
        folder = tmp_path / str(len(started))
        folder.mkdir(parents=True)
        server = Server(folder, free_port(), kind, workers=workers, **environment)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
