"""Fixtures of the upstream tests: a state folder and a running HTTP upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.gateway.upstreams.helpers import HttpUpstream


@pytest.fixture
def state(tmp_path) -> Path:
    """The folder the test upstream writes its pid and marks into."""
    folder = tmp_path / "upstream"
    folder.mkdir()
    return folder


@pytest.fixture
def http_upstream(state) -> Iterator[HttpUpstream]:
    """The test upstream over streamable HTTP, killed at the end."""
    upstream = HttpUpstream(state)
    upstream.start()
    yield upstream
    upstream.kill()
