"""Every project command documents itself the same way; check_config reads well;
misspelt configuration keys in the environment are warned about at start."""

import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class

from controlplane.config import parse_environment
from controlplane.management.base import DocumentedCommand

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("controlplane", "bus", "audit")
PROJECT_COMMANDS = sorted(
    name for name, app in get_commands().items() if app in PROJECT_APPS
)


def test_project_commands__are_all_found() -> None:
    """A check over no commands proves nothing."""
    assert {"serve", "purge_bus", "check_config", "audit"} <= set(PROJECT_COMMANDS)


@pytest.mark.parametrize("name", PROJECT_COMMANDS)
def test_command_help__shows_defaults_exit_codes_and_an_example(name: str) -> None:
    command = load_command_class(get_commands()[name], name)
    assert isinstance(command, DocumentedCommand)
    text = command.create_parser("manage.py", name).format_help()
    assert "exit codes:\n  0  " in text and "\n  1  " in text and "\n  2  " in text
    assert f"example:\n  python manage.py {name}" in text
    assert "(default: 1)" in text  # --verbosity, as every option with a default


def test_serve_help__names_its_defaults() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())
    assert "Interface to listen on. (default: 127.0.0.1)" in flat
    assert "TCP port. (default: 8000)" in flat
    assert "1 could not listen (port busy, another serve running)" in flat


@pytest.mark.django_db
def test_check_config__header_and_sizes_in_binary_units() -> None:
    out = StringIO()
    call_command("check_config", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Effective configuration: ")
    assert lines[1].split() == ["KEY", "VALUE", "SOURCE"]
    assert "[Message bus]" in lines and "[WebSocket gateway]" in lines
    threshold = next(line for line in lines if line.startswith("MESSAGE_BUS_THRESHOLD"))
    assert threshold.split()[1:4] == ["1", "MiB", "(1048576)"]
    assert any(line.split()[1:3] == ["32", "MiB"] for line in lines)


def test_parse_environment__finds_misspelt_project_keys_with_the_closest() -> None:
    base = parse_environment(
        {
            "WS_CALL_TIMEOUT": "5",
            "MESSAGE_BUS_TTL_HOUR": "2",
            "MCP_X": "1",
            "WS_CALL_TIMEOUT_SECS": "5",
            "HOME": "/root",
            "REDIS_TEST_URL": "redis://x",
        }
    )
    assert base.unknown == (
        ("MCP_X", None),
        ("MESSAGE_BUS_TTL_HOUR", "MESSAGE_BUS_TTL_HOURS"),
        ("WS_CALL_TIMEOUT", "WS_CALL_TIMEOUT_SECS"),
    )


def test_start__misspelt_key_is_warned_with_the_closest(subprocess_env) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check_config", "--keys-only-problems"],
        cwd=ROOT,
        env={**subprocess_env, "CIRCUIT_BREAKER_TRESHOLD": "3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "controlplane.W003" in done.stderr
    assert "CIRCUIT_BREAKER_TRESHOLD is not a configuration key" in done.stderr
    assert "Did you mean CIRCUIT_BREAKER_THRESHOLD?" in done.stderr


def test_serve__warns_about_a_misspelt_key_at_start(subprocess_env, tmp_path) -> None:
    """serve runs the checks before anything else: the warning comes first."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env={
                **subprocess_env,
                "DATA_DIR": str(tmp_path),
                "WS_SESION_MAX_INFLIGHT": "4",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1  # the port is taken: it stops right after
    assert "WS_SESION_MAX_INFLIGHT is not a configuration key" in done.stderr
    assert "Did you mean WS_SESSION_MAX_INFLIGHT?" in done.stderr
