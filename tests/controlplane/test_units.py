"""Sizes in binary units and times with their zone, as the admin pages write them."""

from datetime import UTC, datetime, timedelta, timezone

from controlplane.units import FULL, format_bytes, local_time


def test_format_bytes__uses_binary_prefixes():
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1024) == "1 KiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024 * 1024) == "3 MiB"
    assert format_bytes(5 * 1024**4) == "5 TiB"


def test_local_time__is_utc_with_its_zone_until_the_browser_rewrites_it():
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 1, 16, 0, tzinfo=paris)
    shown = str(local_time(moment, FULL))
    assert 'datetime="2026-12-01T15:00:00+00:00"' in shown
    assert ">2026-12-01 15:00:00 UTC</time>" in shown
    assert local_time(None) == "-"
    assert str(local_time(datetime(2026, 1, 2, 3, 4, tzinfo=UTC))).endswith(
        ">Jan 02, 03:04 UTC</time>"
    )
