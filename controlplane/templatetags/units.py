"""Template filters for sizes in binary units and times in the operator's zone."""

from datetime import datetime

from django import template
from django.utils.safestring import SafeString

from controlplane.units import FULL, SHORT, format_bytes, local_time

register = template.Library()


@register.filter
def binary_size(size: int | float | None) -> str:
    """Render a byte count as 512 B, 1 KiB, 2.9 MiB."""
    return "-" if size is None else format_bytes(size)


@register.filter
def local_moment(moment: datetime | None, style: str = SHORT) -> SafeString | str:
    """Render a time in the operator's zone (style "short" or "full")."""
    return local_time(moment, FULL if style == FULL else SHORT)
