"""The environment layer: every key parsed at start, every problem listed at once."""

import pytest

from controlplane import config
from controlplane.exceptions import ConfigError


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


def test_parse_environment__trusted_proxies_must_be_addresses_or_networks():
    parsed = config.parse_environment({"WS_TRUSTED_PROXIES": "10.0.0.0/8, ::1"})
    assert parsed.values["WS_TRUSTED_PROXIES"] == ("10.0.0.0/8", "::1")
    with pytest.raises(ConfigError) as caught:
        config.parse_environment({"WS_TRUSTED_PROXIES": "10.0.0.1,lb.internal"})
    assert caught.value.problems == [
        "WS_TRUSTED_PROXIES='lb.internal': must be IP addresses or CIDR networks"
    ]
