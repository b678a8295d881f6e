"""check_config output and exit codes; a bad environment stops the process at start."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from controlplane.models import ConfigOverride

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_check_config__prints_every_key_masked_and_succeeds():
    out = StringIO()
    call_command("check_config", stdout=out)
    text = out.getvalue()
    assert "WS_GLOBAL_MAX_INFLIGHT" in text and "configuration OK" in text
    assert "django-insecure" not in text


@pytest.mark.django_db
def test_check_config__stored_invalid_override_fails_with_exit_1():
    ConfigOverride.objects.create(key="WS_SESSION_MAX_INFLIGHT", value="x", reason="r")
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("check_config", stdout=StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "controlplane.W002" in err.getvalue()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"WS_GLOBAL_MAX_INFLIGHT": "abc"},
            "WS_GLOBAL_MAX_INFLIGHT='abc': must be an integer",
        ),
        (
            {"MESSAGE_BUS_COMPRESSION": "lz4"},
            "MESSAGE_BUS_COMPRESSION='lz4': must be one of",
        ),
        (
            {"CIRCUIT_BREAKER_THRESHOLD": "0"},
            "CIRCUIT_BREAKER_THRESHOLD='0': must be an integer from 1",
        ),
        ({"ENVIRONMENT": "production", "DEBUG": "true"}, "DEBUG='true': must be false"),
        (
            {
                "ENVIRONMENT": "production",
                "SECRET_KEY": "django-insecure-development-only-change-me",
            },
            "SECRET_KEY: must be set",
        ),
    ],
)
def test_start__bad_environment_stops_with_one_line_per_problem(
    subprocess_env, env, expected
):
    done = _manage("check", env={**subprocess_env, **env})
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config__bad_environment_exits_1(subprocess_env):
    done = _manage(
        "check_config", env={**subprocess_env, "WS_HELLO_TIMEOUT_SECS": "soon"}
    )
    assert done.returncode == 1
    assert "WS_HELLO_TIMEOUT_SECS='soon': must be a number" in done.stderr
