"""The schema: each key's default, rules and whether operators may override it."""

import pytest

from controlplane import config


def test_spec_of__unknown_key_raises_key_error():
    with pytest.raises(KeyError):
        config.spec_of("NOPE")


def test_default_of__is_the_schema_default():
    assert config.default_of("WS_SESSION_MAX_INFLIGHT") == 8
    assert config.default_of("MESSAGE_BUS_THRESHOLD_BYTES") == 1 * config.MIB
    assert config.default_of("SECRET_KEY") == config.DEFAULT_SECRET_KEY


def test_overridable_keys__only_overridable_ones_in_schema_order():
    keys = config.overridable_keys()
    assert keys == [key for key in config.FIELDS if key in keys]
    assert "MESSAGE_BUS_ENABLED" in keys and "WS_SESSION_MAX_INFLIGHT" in keys
    assert "WS_MAX_MESSAGE_BYTES" not in keys and "DATABASE_URL" not in keys
    assert all(config.spec_of(key).overridable for key in keys)


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("WS_SESSION_MAX_INFLIGHT", "an integer from 1 to 10000"),
        ("WS_PROGRESS_INTERVAL_SECS", "a number from 0.01 to 300"),
        ("MESSAGE_BUS_ENABLED", "true or false"),
        ("MESSAGE_BUS_COMPRESSION", "one of zstd, gzip, none"),
        ("TOOL_NAME_SUFFIXES", "a comma-separated list"),
        ("WS_METRICS_PATH", "text"),
    ],
)
def test_describe_rule__names_type_bounds_and_choices(key, rule):
    assert config.describe_rule(key) == rule


def test_config__is_frozen():
    with pytest.raises(AttributeError):
        config.Config().DEBUG = True  # type: ignore[misc]
