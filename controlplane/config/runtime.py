"""The runtime configuration: the environment layer with admin overrides on top.

Values are layered: schema default < environment < admin override (overridable
keys only). ``get_config()`` and ``aget_config()`` read one snapshot per process
that every process refreshes within ``CONFIG_REFRESH_SECS`` when any of them
changes an override: the newest ``ConfigChange`` id is the cross-process version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Max

from controlplane.config.environment import BaseConfig
from controlplane.config.keys import area_of
from controlplane.config.schema import (
    FIELDS,
    Config,
    Source,
    Spec,
    default_of,
    describe_rule,
    spec_of,
)
from controlplane.config.values import human_value, parse_value, render_value
from controlplane.snapshot import RefreshingSnapshot

logger = logging.getLogger(__name__)

SNAPSHOT_NAME = "config overrides"


@dataclass(frozen=True)
class EffectiveValue:
    """One key as the admin and check_config show it."""

    key: str
    value: Any
    source: str
    spec: Spec
    rule: str
    default: Any

    @property
    def shown(self) -> str:
        """Return the value rendered with secrets masked."""
        return render_value(self.key, self.value)

    @property
    def default_shown(self) -> str:
        """Return the default rendered with secrets masked."""
        return render_value(self.key, self.default)

    @property
    def human(self) -> str:
        """Return a size in binary units (1 MiB) to show beside the raw value."""
        return human_value(self.key, self.value)

    @property
    def default_human(self) -> str:
        """Return the default of a size in binary units, "" for other keys."""
        return human_value(self.key, self.default)

    @property
    def area(self) -> str:
        """Return the area (group of keys) this key belongs to."""
        return area_of(self.key)


@dataclass(frozen=True)
class _Layered:
    config: Config
    sources: Mapping[str, str]


def _base() -> BaseConfig:
    return settings.CONTROLPLANE_BASE_CONFIG


def _refresh_interval() -> float:
    # Not overridable, so the environment layer is the effective value.
    return _base().values["CONFIG_REFRESH_SECS"]


def _read_version() -> int:
    # The models cannot be imported with this module: settings import it.
    from controlplane.models import ConfigChange

    return ConfigChange.objects.aggregate(newest=Max("id"))["newest"] or 0


def _load(version: int) -> _Layered:
    from controlplane.models import ConfigOverride

    # The rows are read afresh, so they are at least as new as the version.
    return _layer(_base(), dict(ConfigOverride.objects.values_list("key", "value")))


def _environment_only() -> _Layered:
    return _layer(_base(), {})


def _last_known() -> _Layered:
    current = _snapshot.current
    return current if current is not None else _environment_only()


def _layer(base: BaseConfig, overrides: Mapping[str, str]) -> _Layered:
    values = dict(base.values)
    sources = {
        key: Source.ENVIRONMENT if key in base.from_environment else Source.DEFAULT
        for key in FIELDS
    }
    for key, raw in overrides.items():
        if key not in FIELDS or not spec_of(key).overridable:
            logger.warning("Ignoring override of %s: not an overridable key", key)
            continue
        try:
            values[key] = parse_value(key, raw)
        except ValueError as exc:
            logger.warning("Ignoring invalid override of %s: %s", key, exc)
            continue
        sources[key] = Source.OVERRIDE
    return _Layered(config=Config(**values), sources=sources)


_snapshot: RefreshingSnapshot[_Layered] = RefreshingSnapshot(
    name=SNAPSHOT_NAME,
    read_version=_read_version,
    load=_load,
    interval=_refresh_interval,
    fallback=_environment_only,
)


def get_config() -> Config:
    """Return the effective configuration, refreshed from overrides when stale."""
    return _snapshot.get().config


async def aget_config() -> Config:
    """Return the effective configuration from async code without blocking the loop."""
    return (await _snapshot.aget()).config


def invalidate() -> None:
    """Make the next read in this process see the overrides as stored now."""
    _snapshot.invalidate()


def effective_values() -> list[EffectiveValue]:
    """Return every key with its effective value and source, in schema order."""
    # Operators look here right after a change made in any process, so this
    # reads what is stored now. A one-off snapshot does it, leaving the shared one
    # (which the call path keeps serving without waiting) as it is.
    layered = RefreshingSnapshot(
        name=SNAPSHOT_NAME,
        read_version=_read_version,
        load=_load,
        interval=_refresh_interval,
        fallback=_last_known,
    ).get()
    return [
        EffectiveValue(
            key=key,
            value=getattr(layered.config, key),
            source=layered.sources[key],
            spec=spec_of(key),
            rule=describe_rule(key),
            default=default_of(key),
        )
        for key in FIELDS
    ]
