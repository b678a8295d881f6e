"""Fixtures for the control plane tests: config timing and environment values."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from controlplane import config


@pytest.fixture
def refresh_interval(settings) -> Callable[[float], None]:
    """Set CONFIG_REFRESH_SECS as the environment would; 0 makes every read stale."""

    def set_interval(seconds: float) -> None:
        base = settings.CONTROLPLANE_BASE_CONFIG
        settings.CONTROLPLANE_BASE_CONFIG = dataclasses.replace(
            base, values={**base.values, "CONFIG_REFRESH_SECS": seconds}
        )

    return set_interval


@pytest.fixture
def environment_config(settings) -> Callable[..., None]:
    """Set configuration keys as the process environment would."""

    def configure(**values: object) -> None:
        base = settings.CONTROLPLANE_BASE_CONFIG
        settings.CONTROLPLANE_BASE_CONFIG = dataclasses.replace(
            base,
            values={**base.values, **values},
            from_environment=base.from_environment | set(values),
        )
        config.invalidate()

    return configure
