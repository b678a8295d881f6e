"""How configuration keys are grouped (areas) and recognised (misspelt keys)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from controlplane.config.schema import FIELDS

# Areas of the admin's configuration page and check_config, by key prefix; the
# first match wins, keys without one are "General".
AREAS = (
    ("MESSAGE_BUS_", "Message bus"),
    ("CIRCUIT_BREAKER_", "Circuit breaker"),
    ("WS_", "WebSocket gateway"),
    ("MCP_", "MCP"),
    ("REDIS_", "Redis"),
    ("LOG_", "Logging"),
)
GENERAL_AREA = "General"


def area_of(key: str) -> str:
    """Return the area a key belongs to, from its prefix."""
    for prefix, area in AREAS:
        if key.startswith(prefix):
            return area
    return GENERAL_AREA


def area_names() -> list[str]:
    """Return every area in display order, General first."""
    return [GENERAL_AREA, *(area for _, area in AREAS)]


# Environment variables with these prefixes are meant for this project: one that
# names no key is a typo, warned about at start with the closest key.
PROJECT_PREFIXES = ("WS_", "MESSAGE_BUS_", "CIRCUIT_BREAKER_", "MCP_")
# How alike (difflib's ratio) a key must be to be offered as the intended one.
CLOSEST_KEY_CUTOFF = 0.6


def unknown_keys(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Return the names with a project prefix that are no key, each with the
    closest key (or None), sorted."""
    unknown = sorted(
        name
        for name in names
        if name.startswith(PROJECT_PREFIXES) and name not in FIELDS
    )
    return [
        (
            name,
            next(
                iter(difflib.get_close_matches(name, FIELDS, 1, CLOSEST_KEY_CUTOFF)),
                None,
            ),
        )
        for name in unknown
    ]
