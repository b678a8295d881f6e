"""The environment layer: every key parsed once at start, failing on any problem."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.config.keys import unknown_keys
from controlplane.config.schema import (
    DEFAULT_SECRET_KEY,
    FIELDS,
    default_of,
    spec_of,
)
from controlplane.config.values import parse_value
from controlplane.exceptions import ConfigError


@dataclass(frozen=True)
class BaseConfig:
    """Environment layer parsed at start: values plus which keys the environment set."""

    values: Mapping[str, Any]
    from_environment: frozenset[str]
    # Variables with a project prefix that name no key, each with the closest key.
    unknown: tuple[tuple[str, str | None], ...] = ()


def parse_environment(environ: Mapping[str, str]) -> BaseConfig:
    """Parse every key from the environment; raise ConfigError listing each problem."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    problems: list[str] = []
    for key in FIELDS:
        if key not in environ:
            values[key] = default_of(key)
            continue
        seen.add(key)
        try:
            values[key] = parse_value(key, environ[key])
        except ValueError as exc:
            shown = "***" if spec_of(key).secret else environ[key]
            problems.append(f"{key}={shown!r}: {exc}")
            values[key] = default_of(key)
    problems.extend(_proxy_problems(values["WS_TRUSTED_PROXIES"]))
    if values["ENVIRONMENT"] == "production":
        if values["DEBUG"]:
            problems.append("DEBUG='true': must be false when ENVIRONMENT=production")
        if values["SECRET_KEY"] == DEFAULT_SECRET_KEY or len(values["SECRET_KEY"]) < 32:
            problems.append(
                "SECRET_KEY: must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        if not values["WS_AUTH_REQUIRED"]:
            problems.append(
                "WS_AUTH_REQUIRED='false': agent auth cannot be turned off when "
                "ENVIRONMENT=production"
            )
    if problems:
        raise ConfigError(problems)
    return BaseConfig(
        values=values,
        from_environment=frozenset(seen),
        unknown=tuple(unknown_keys(environ)),
    )


def _proxy_problems(entries: tuple[str, ...]) -> list[str]:
    # The value grammar only splits the list; an entry that names no address
    # would silently trust nobody (or the wrong hosts), so it stops the start.
    problems = []
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(
                f"WS_TRUSTED_PROXIES={entry!r}: must be IP addresses or CIDR networks"
            )
    return problems
