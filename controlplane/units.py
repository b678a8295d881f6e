"""How the admin pages write sizes and times: binary units, the zone always shown."""

from __future__ import annotations

from datetime import datetime

from django.utils import dateformat, timezone

BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB")
STEP = 1024
# One format for every time an operator reads: the zone makes it unambiguous.
TIME_FORMAT = "Y-m-d H:i:s T"


def binary_size(size: int) -> str:
    """Return a byte count as people read it: 512 B, 3.4 KiB, 12.0 MiB."""
    if size < STEP:
        return f"{size} B"
    value = float(size)
    for unit in BINARY_UNITS:
        value /= STEP
        if value < STEP or unit == BINARY_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable: the last unit always returns")


def zoned_time(moment: datetime | None) -> str:
    """Return a time in the current time zone, with the zone's name ("" for None)."""
    if moment is None:
        return ""
    return dateformat.format(timezone.localtime(moment), TIME_FORMAT)
