"""Fixtures for the control plane tests: config timing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest


@pytest.fixture
def refresh_interval(settings) -> Callable[[float], None]:
    """Set CONFIG_REFRESH_SECS as the environment would; 0 makes every read stale."""

    def set_interval(seconds: float) -> None:
        base = settings.CONTROLPLANE_BASE_CONFIG
        settings.CONTROLPLANE_BASE_CONFIG = dataclasses.replace(
            base, values={**base.values, "CONFIG_REFRESH_SECS": seconds}
        )

    return set_interval
