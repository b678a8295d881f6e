"""The runtime layer: overrides on top of the environment, live in every process."""

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from controlplane import config
from controlplane.models import ConfigChange, ConfigOverride
from controlplane.services import config_override_set

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_WARNING = "Cannot read config overrides; keeping last known values"


def _saved_by_another_process(key: str, value: str) -> None:
    """Store an override the way the service in another process leaves the rows."""
    ConfigOverride.objects.update_or_create(
        key=key, defaults={"value": value, "reason": "elsewhere"}
    )
    ConfigChange.objects.create(
        key=key, action=ConfigChange.Action.SET, new_value=value, reason="elsewhere"
    )


@pytest.mark.django_db
def test_get_config__layers_default_environment_override(settings, staff_user):
    settings.CONTROLPLANE_BASE_CONFIG = config.parse_environment(
        {"WS_SESSION_MAX_INFLIGHT": "3", "WS_GLOBAL_MAX_INFLIGHT": "30"}
    )
    config.invalidate()
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 3
    config_override_set(
        key="WS_GLOBAL_MAX_INFLIGHT",
        raw_value="50",
        reason="load test",
        user=staff_user,
    )
    cfg = config.get_config()
    assert (cfg.WS_GLOBAL_MAX_INFLIGHT, cfg.WS_SESSION_MAX_INFLIGHT) == (50, 3)
    sources = {item.key: item.source for item in config.effective_values()}
    assert sources["WS_GLOBAL_MAX_INFLIGHT"] == config.Source.OVERRIDE
    assert sources["WS_SESSION_MAX_INFLIGHT"] == config.Source.ENVIRONMENT
    assert sources["WS_CALL_TIMEOUT_SECS"] == config.Source.DEFAULT


@pytest.mark.django_db
def test_get_config__invalid_stored_override_falls_back_and_warns(caplog):
    ConfigOverride.objects.create(
        key="WS_SESSION_MAX_INFLIGHT", value="lots", reason="x"
    )
    ConfigChange.objects.create(key="WS_SESSION_MAX_INFLIGHT", action="set", reason="x")
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    assert "Ignoring invalid override of WS_SESSION_MAX_INFLIGHT" in caplog.text


@pytest.mark.django_db
def test_get_config__another_process_override_applies_after_the_interval(
    refresh_interval, django_assert_num_queries
):
    """Within CONFIG_REFRESH_SECS reads cost no query; after it the change is seen."""
    refresh_interval(300)
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    _saved_by_another_process("WS_SESSION_MAX_INFLIGHT", "13")
    with django_assert_num_queries(0):
        assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    refresh_interval(0)
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 13


@pytest.mark.django_db
def test_effective_values__show_another_process_override_at_once(refresh_interval):
    """The admin and check_config do not wait for CONFIG_REFRESH_SECS."""
    refresh_interval(300)
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    _saved_by_another_process("WS_SESSION_MAX_INFLIGHT", "13")
    (shown,) = [
        item
        for item in config.effective_values()
        if item.key == "WS_SESSION_MAX_INFLIGHT"
    ]
    assert (shown.value, shown.source) == (13, config.Source.OVERRIDE)


def test_effective_values__database_down_shows_last_known_values(database_down, caplog):
    config_override_set(
        key="WS_SESSION_MAX_INFLIGHT", raw_value="13", reason="x", user=None
    )
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 13
    database_down.start()
    values = {item.key: item.value for item in config.effective_values()}
    assert values["WS_SESSION_MAX_INFLIGHT"] == 13
    assert OUTAGE_WARNING in caplog.messages


def test_get_config__database_down_keeps_last_known_values(
    database_down, refresh_interval, caplog
):
    """A failed refresh keeps the overrides read before; they refresh once it is up."""
    config_override_set(
        key="WS_SESSION_MAX_INFLIGHT", raw_value="13", reason="x", user=None
    )
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 13
    refresh_interval(0)
    database_down.start()
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 13
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == OUTAGE_WARNING and warning.exc_info is not None
    database_down.stop()
    _saved_by_another_process("WS_SESSION_MAX_INFLIGHT", "14")
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 14


def test_get_config__database_down_before_first_read_serves_the_environment(
    database_down, settings, caplog
):
    """Without database access the accessor logs a warning and serves the env layer."""
    settings.CONTROLPLANE_BASE_CONFIG = config.parse_environment(
        {"WS_SESSION_MAX_INFLIGHT": "3"}
    )
    config.invalidate()
    database_down.start()
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 3
    assert config.get_config().WS_CALL_TIMEOUT_SECS == 180.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [OUTAGE_WARNING]
    assert warnings[0].exc_info is not None


_WATCHER = """
import sys, time, django
django.setup()
from controlplane.config import get_config
first = get_config().WS_SESSION_MAX_INFLIGHT
print(first, flush=True)
sys.stdin.readline()
deadline = time.monotonic() + 15
while get_config().WS_SESSION_MAX_INFLIGHT == first and time.monotonic() < deadline:
    time.sleep(0.05)
print(get_config().WS_SESSION_MAX_INFLIGHT, flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_get_config__override_reaches_a_running_process(staff_user, subprocess_env):
    """A process that already read its config sees an override without a restart."""
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHER],
        env=subprocess_env,
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert watcher.stdout.readline().strip() == "8"
        config_override_set(
            key="WS_SESSION_MAX_INFLIGHT", raw_value="13", reason="x", user=staff_user
        )
        watcher.stdin.write("go\n")
        watcher.stdin.flush()
        assert watcher.stdout.readline().strip() == "13"
    finally:
        watcher.kill()
        watcher.wait()


@pytest.mark.django_db(transaction=True)
async def test_aget_config__serves_last_snapshot_and_refreshes_in_background(
    refresh_interval, staff_user
):
    """Async callers never wait on the database once a snapshot exists."""
    refresh_interval(300)
    assert (await config.aget_config()).WS_SESSION_MAX_INFLIGHT == 8
    await database_sync_to_async(config_override_set)(
        key="WS_SESSION_MAX_INFLIGHT", raw_value="21", reason="x", user=staff_user
    )
    # This process's own change applies at once.
    assert (await config.aget_config()).WS_SESSION_MAX_INFLIGHT == 21
    await database_sync_to_async(_saved_by_another_process)(
        "WS_SESSION_MAX_INFLIGHT", "22"
    )
    assert (await config.aget_config()).WS_SESSION_MAX_INFLIGHT == 21
    refresh_interval(0)
    # Stale now: the last snapshot is served while the refresh runs behind it.
    seen = [(await config.aget_config()).WS_SESSION_MAX_INFLIGHT]
    for _ in range(200):
        if seen[-1] == 22:
            break
        await asyncio.sleep(0.02)  # waits for the background refresh, not for time
        seen.append((await config.aget_config()).WS_SESSION_MAX_INFLIGHT)
    assert seen[0] == 21 and seen[-1] == 22
