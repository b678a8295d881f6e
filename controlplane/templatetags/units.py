"""Template filters for sizes in binary units and times with their zone."""

from datetime import datetime

from django import template

from controlplane import units

register = template.Library()


@register.filter
def binary_size(size: int | None) -> str:
    """Write a byte count in B, KiB, MiB, GiB."""
    return units.binary_size(size or 0)


@register.filter
def zoned_time(moment: datetime | None) -> str:
    """Write a time in the current zone, with the zone's name."""
    return units.zoned_time(moment)
