"""Fixtures for the control plane tests: real database outages and config timing."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator

import pytest
from django.db import connection


def closed_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DatabaseOutage:
    """Point this thread's database connection at a closed port, and back."""

    def __init__(self) -> None:
        self.real_port = connection.settings_dict["PORT"]

    def start(self) -> None:
        connection.settings_dict["PORT"] = str(closed_port())
        connection.close()

    def end(self) -> None:
        connection.settings_dict["PORT"] = self.real_port
        connection.close()


@pytest.fixture
def database_outage(transactional_db: None) -> Iterator[DatabaseOutage]:
    """A real outage to start and end at will; always ended after the test."""
    outage = DatabaseOutage()
    yield outage
    outage.end()


@pytest.fixture
def refresh_interval(settings) -> Callable[[float], None]:
    """Set CONFIG_REFRESH_SECS as the environment would; 0 makes every read stale."""

    def set_interval(seconds: float) -> None:
        base = settings.CONTROLPLANE_BASE_CONFIG
        settings.CONTROLPLANE_BASE_CONFIG = dataclasses.replace(
            base, values={**base.values, "CONFIG_REFRESH_SECS": seconds}
        )

    return set_interval
