"""The image's HEALTHCHECK, run as Docker runs it, against a real production `serve`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.deploy.deployfiles import compose, healthcheck_command
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

HEALTHCHECK_TIMEOUT_SECS = 10
IMAGE_URL = "http://127.0.0.1:8000/"


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """Run the HEALTHCHECK command, pointed at the server's port instead of 8000."""
    command = [
        part.replace(IMAGE_URL, f"http://127.0.0.1:{port}/")
        for part in healthcheck_command()
    ]
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        capture_output=True,
        text=True,
        timeout=HEALTHCHECK_TIMEOUT_SECS,
    )


def test_healthcheck_passes_on_a_worker_configured_as_compose_does(
    tmp_path, builtin_tools
):
    environment = compose()["services"]["controlplane"]["environment"]
    server = Server(
        tmp_path,
        free_port(),
        ENVIRONMENT="production",
        SECRET_KEY=environment["SECRET_KEY"],
        ALLOWED_HOSTS=environment["ALLOWED_HOSTS"],
    )
    server.start()
    try:
        passed = run_healthcheck(server.port)
    finally:
        server.stop()
    assert passed.returncode == 0, passed.stderr
    stopped = run_healthcheck(server.port)
    assert stopped.returncode != 0


def test_healthcheck_fails_when_the_host_is_not_allowed(tmp_path, builtin_tools):
    # Why compose appends 127.0.0.1 to ALLOWED_HOSTS: without it every worker
    # would be marked unhealthy although it serves.
    environment = compose()["services"]["controlplane"]["environment"]
    server = Server(
        tmp_path,
        free_port(),
        ENVIRONMENT="production",
        SECRET_KEY=environment["SECRET_KEY"],
        ALLOWED_HOSTS="cp.example.com",
    )
    server.start()
    try:
        refused = run_healthcheck(server.port)
    finally:
        server.stop()
    assert refused.returncode != 0
    assert "400" in refused.stderr
