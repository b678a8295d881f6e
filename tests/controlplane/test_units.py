"""Sizes in binary units and times with their zone, as the admin pages write them."""

from datetime import UTC, datetime

from django.test import override_settings

from controlplane.units import binary_size, zoned_time


def test_binary_size__uses_binary_prefixes():
    assert binary_size(0) == "0 B"
    assert binary_size(1023) == "1023 B"
    assert binary_size(1536) == "1.5 KiB"
    assert binary_size(3 * 1024 * 1024) == "3.0 MiB"
    assert binary_size(5 * 1024**4) == "5.0 TiB"


@override_settings(TIME_ZONE="Europe/Paris")
def test_zoned_time__shows_the_zone_of_the_current_time_zone():
    moment = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert zoned_time(moment) == "2026-12-01 16:00:00 CET"
    assert zoned_time(None) == ""
