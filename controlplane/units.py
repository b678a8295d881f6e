"""Sizes and times as operators read them: binary units, local times with a zone.

One place for both, so the admin, the report pages and the commands agree: a
size is "2.9 MiB" everywhere (never 3041280, never "2.9 MB" for 1024-based
units), and a time is a ``<time>`` element that ``local_time.js`` rewrites in
the operator's own zone, with the zone shown either way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
STEP = 1024
# Short for the lists, full for detail pages and charts; local_time.js uses the
# same two styles (data-style) once it knows the browser's zone.
SHORT = "short"
FULL = "full"
_FORMATS = {SHORT: "%b %d, %H:%M", FULL: "%Y-%m-%d %H:%M:%S"}


def format_bytes(size: int | float) -> str:
    """Return a byte count in binary units: 512 B, 1 KiB, 2.9 MiB."""
    value = float(size)
    for unit in UNITS:
        if abs(value) < STEP or unit == UNITS[-1]:
            break
        value /= STEP
    if unit == UNITS[0]:
        return f"{int(value)} {unit}"
    # One decimal, dropped when it is 0: 1 MiB, 2.9 MiB.
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def local_time(moment: datetime | None, style: str = SHORT) -> SafeString | str:
    """Return a <time> element that shows moment in the operator's zone, or "-"."""
    if moment is None:
        return "-"
    utc = moment.astimezone(UTC)
    fallback = f"{utc.strftime(_FORMATS[style])} UTC"
    return format_html(
        '<time class="local-time" datetime="{}" data-style="{}" title="{}">{}</time>',
        utc.isoformat(),
        style,
        f"{utc.strftime(_FORMATS[FULL])} UTC",
        fallback,
    )
