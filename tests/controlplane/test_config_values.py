"""The value grammar: parsing values as written in .env, rendering and masking."""

import pytest

from controlplane import config


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


@pytest.mark.parametrize(
    ("key", "value", "written"),
    [
        ("MESSAGE_BUS_ENABLED", False, "false"),
        ("WS_CALL_TIMEOUT_SECS", 180.0, "180"),
        ("WS_PROGRESS_INTERVAL_SECS", 0.25, "0.25"),
        ("TOOL_NAME_SUFFIXES", ("_a", "-b"), "_a,-b"),
        ("WS_SESSION_MAX_INFLIGHT", 8, "8"),
    ],
)
def test_render_value__writes_values_as_parse_value_reads_them(key, value, written):
    assert config.render_value(key, value) == written
    assert config.parse_value(key, written) == value


def test_render_value__masks_secrets_unless_revealed():
    url = "postgres://u:pw@db.example:5432/cp"
    assert (
        config.render_value("DATABASE_URL", url) == "postgres://***@db.example:5432/***"
    )
    assert config.render_value("DATABASE_URL", url, reveal=True) == url


def test_mask_secret__keeps_scheme_and_host_only():
    masked = config.mask_secret("DATABASE_URL", "postgres://u:pw@db.example:5432/cp")
    assert masked == "postgres://***@db.example:5432/***"
    assert config.mask_secret("SECRET_KEY", "abc") == "********"
