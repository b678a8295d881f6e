"""The typed schema, environment parsing, layering and live overrides."""

import subprocess
import sys
from pathlib import Path

import pytest

from controlplane import config
from controlplane.exceptions import ConfigError, OverrideError
from controlplane.models import ConfigChange
from controlplane.services import config_override_clear, config_override_set

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("key", "raw", "rule"),
    [
        ("WS_GLOBAL_MAX_INFLIGHT", "abc", "must be an integer from 1 to 100000"),
        ("WS_GLOBAL_MAX_INFLIGHT", "0", "must be an integer from 1 to 100000"),
        ("WS_GLOBAL_MAX_INFLIGHT", "2.5", "must be an integer"),
        ("CIRCUIT_BREAKER_THRESHOLD", "0", "must be an integer from 1 to 1000"),
        ("MESSAGE_BUS_COMPRESSION", "lz4", "must be one of zstd, gzip, none"),
        ("MESSAGE_BUS_ENABLED", "maybe", "must be true or false"),
        ("WS_PROGRESS_INTERVAL_SECS", "nan", "must be a number from 0.01 to 300"),
        ("WS_PROGRESS_INTERVAL_SECS", "-1", "must be a number from 0.01 to 300"),
        ("WS_CALL_TIMEOUT_SECS", "1e9", "must be a number from 0.1 to 86400"),
        ("LOG_FORMAT", "xml", "must be one of text, json"),
    ],
)
def test_parse_value__rejects_bad_values_naming_the_rule(key, raw, rule):
    with pytest.raises(ValueError, match=rule):
        config.parse_value(key, raw)


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("WS_GLOBAL_MAX_INFLIGHT", " 48 ", 48),
        ("WS_PROGRESS_INTERVAL_SECS", "0.25", 0.25),
        ("MESSAGE_BUS_ENABLED", "off", False),
        ("MESSAGE_BUS_ENABLED", "YES", True),
        ("MESSAGE_BUS_COMPRESSION", "gzip", "gzip"),
        ("TOOL_NAME_SUFFIXES", "_a, -b,,", ("_a", "-b")),
    ],
)
def test_parse_value__accepts_each_type(key, raw, expected):
    assert config.parse_value(key, raw) == expected


def test_parse_environment__lists_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        config.parse_environment(
            {
                "WS_GLOBAL_MAX_INFLIGHT": "abc",
                "MESSAGE_BUS_COMPRESSION": "lz4",
                "CIRCUIT_BREAKER_THRESHOLD": "0",
            }
        )
    assert [line.split("=")[0] for line in caught.value.problems] == [
        "MESSAGE_BUS_COMPRESSION",
        "CIRCUIT_BREAKER_THRESHOLD",
        "WS_GLOBAL_MAX_INFLIGHT",
    ]
    assert "WS_GLOBAL_MAX_INFLIGHT='abc': must be an integer" in str(caught.value)


def test_parse_environment__production_refuses_debug_default_secret_and_no_auth():
    with pytest.raises(ConfigError) as caught:
        config.parse_environment(
            {"ENVIRONMENT": "production", "DEBUG": "true", "WS_AUTH_REQUIRED": "false"}
        )
    text = str(caught.value)
    assert "DEBUG='true': must be false when ENVIRONMENT=production" in text
    assert "SECRET_KEY: must be set to a random value" in text
    assert "WS_AUTH_REQUIRED='false'" in text


def test_parse_environment__secret_values_are_not_echoed_in_errors():
    with pytest.raises(ConfigError) as caught:
        config.parse_environment({"ENVIRONMENT": "production", "SECRET_KEY": "short"})
    assert "short" not in str(caught.value)


def test_parse_environment__records_which_keys_came_from_the_environment():
    base = config.parse_environment({"WS_CALL_TIMEOUT_SECS": "30", "UNRELATED": "x"})
    assert base.values["WS_CALL_TIMEOUT_SECS"] == 30.0
    assert base.values["WS_SESSION_MAX_INFLIGHT"] == 8
    assert base.from_environment == {"WS_CALL_TIMEOUT_SECS"}


def test_mask_secret__keeps_scheme_and_host_only():
    masked = config.mask_secret("DATABASE_URL", "postgres://u:pw@db.example:5432/cp")
    assert masked == "postgres://***@db.example:5432/***"
    assert config.mask_secret("SECRET_KEY", "abc") == "********"


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
def test_config_override_set__refuses_non_overridable_and_invalid(staff_user):
    with pytest.raises(OverrideError, match="cannot be overridden at run time"):
        config_override_set(
            key="WS_MAX_MESSAGE_BYTES", raw_value="1", reason="x", user=staff_user
        )
    with pytest.raises(OverrideError, match="must be one of zstd, gzip, none"):
        config_override_set(
            key="MESSAGE_BUS_COMPRESSION", raw_value="lz4", reason="x", user=staff_user
        )
    with pytest.raises(OverrideError, match="unknown configuration key"):
        config_override_set(key="NOPE", raw_value="1", reason="x", user=staff_user)
    assert ConfigChange.objects.count() == 0


@pytest.mark.django_db
def test_config_override_clear__restores_environment_value(staff_user):
    config_override_set(
        key="WS_RETRY_AFTER_SECS", raw_value="5", reason="slow", user=staff_user
    )
    assert config.get_config().WS_RETRY_AFTER_SECS == 5.0
    config_override_clear(key="WS_RETRY_AFTER_SECS", reason="done", user=staff_user)
    assert config.get_config().WS_RETRY_AFTER_SECS == 1.0
    assert list(
        ConfigChange.objects.order_by("id").values_list(
            "action", "old_value", "new_value"
        )
    ) == [("set", None, "5"), ("clear", "5", None)]


@pytest.mark.django_db
def test_get_config__invalid_stored_override_falls_back_and_warns(caplog):
    from controlplane.models import ConfigOverride

    ConfigOverride.objects.create(
        key="WS_SESSION_MAX_INFLIGHT", value="lots", reason="x"
    )
    ConfigChange.objects.create(key="WS_SESSION_MAX_INFLIGHT", action="set", reason="x")
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    assert "Ignoring invalid override of WS_SESSION_MAX_INFLIGHT" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_get_config__database_outage_keeps_last_known_values(caplog):
    """Without database access the accessor logs a warning and serves the env layer."""
    from django.db import connection

    real_port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = "1"  # nothing listens there: a real outage
    connection.close()
    try:
        assert config.get_config().WS_SESSION_MAX_INFLIGHT == 8
    finally:
        connection.settings_dict["PORT"] = real_port
        connection.close()
    assert "Cannot read config overrides; keeping last known values" in caplog.text


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
    settings, staff_user
):
    """Async callers never wait on the database once a snapshot exists."""
    import asyncio

    from asgiref.sync import sync_to_async

    settings.CONTROLPLANE_BASE_CONFIG = config.parse_environment(
        {"CONFIG_REFRESH_SECS": "0.1"}
    )
    config.invalidate()
    assert (await config.aget_config()).WS_SESSION_MAX_INFLIGHT == 8
    await sync_to_async(config_override_set)(
        key="WS_SESSION_MAX_INFLIGHT", raw_value="21", reason="x", user=staff_user
    )
    assert (await config.aget_config()).WS_SESSION_MAX_INFLIGHT == 21
    seen_by_this_process = config._snapshot
    await sync_to_async(config_override_set)(
        key="WS_SESSION_MAX_INFLIGHT", raw_value="22", reason="x", user=staff_user
    )
    # As if another process had saved it: this one still holds its stale snapshot.
    seen_by_this_process.checked_at = 0.0
    config._snapshot = seen_by_this_process
    seen = [(await config.aget_config()).WS_SESSION_MAX_INFLIGHT]
    for _ in range(40):
        await asyncio.sleep(0.05)
        seen.append((await config.aget_config()).WS_SESSION_MAX_INFLIGHT)
        if seen[-1] == 22:
            break
    assert seen[0] == 21 and seen[-1] == 22
