"""compose.yaml, the Dockerfile and deploy/nginx.conf: valid, and wired to real keys.

The `docker compose config` and `nginx -t` checks skip where those tools are
absent (CI machines have the docker client but maybe not its compose plugin).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest
from django.core.management import get_commands, load_command_class

from controlplane.config.environment import parse_environment
from controlplane.config.schema import FIELDS
from tests.deploy.deployfiles import (
    COMPOSE,
    ENV_EXAMPLE,
    NGINX_CONF,
    REQUIRED,
    ROOT,
    compose,
    control_plane_services,
    dockerfile_exec_form,
    dockerfile_instructions,
)

CONFIG_TIMEOUT_SECS = 60


def compose_command() -> list[str]:
    """Return the compose client that can parse a file here, or skip."""
    candidates = (["docker", "compose"], ["docker-compose"])
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version"], capture_output=True, timeout=CONFIG_TIMEOUT_SECS
        )
        if probe.returncode == 0:
            return command
    pytest.skip("neither `docker compose` nor `docker-compose` can run here")


def run_config(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in REQUIRED and key not in FIELDS
    }
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env={**environ, **variables},
        capture_output=True,
        text=True,
        timeout=CONFIG_TIMEOUT_SECS,
    )


def test_compose_file_validates_with_the_required_variables_set():
    result = run_config(REQUIRED)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_a_secret_key():
    result = run_config({"POSTGRES_PASSWORD": REQUIRED["POSTGRES_PASSWORD"]})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_nginx_accepts_the_load_balancer_configuration(tmp_path):
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed")
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-c",
            str(NGINX_CONF),
            "-p",
            str(tmp_path),
            "-e",
            "stderr",
            "-g",
            f"pid {tmp_path / 'nginx.pid'};",
        ],
        capture_output=True,
        text=True,
        timeout=CONFIG_TIMEOUT_SECS,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_upgrades_websockets_and_overwrites_forwarded_for():
    text = NGINX_CONF.read_text()
    websocket = text.split("location /ws/", 1)[1].split("location /", 1)[0]
    for directive in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 3600s;",
    ):
        assert directive in websocket
    # Appending ($proxy_add_x_forwarded_for) would let a client choose the hop
    # that the workers, trusting the whole network, take for its address.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "$proxy_add_x_forwarded_for" not in text
    # /metrics is per worker: scraped through nginx it would be a random one's.
    metrics = text.split("location = /metrics", 1)[1].split("}", 1)[0]
    assert "deny all;" in metrics


def test_every_control_plane_process_gets_a_valid_production_configuration():
    services = control_plane_services(compose())
    assert set(services) == {"migrate", "controlplane", "purge"}
    for name, service in services.items():
        environment = {key: str(value) for key, value in service["environment"].items()}
        unknown = sorted(set(environment) - set(FIELDS))
        assert not unknown, f"{name} sets keys that are not configuration: {unknown}"
        values = parse_environment(environment).values
        assert values["ENVIRONMENT"] == "production"
        # The image's HEALTHCHECK asks http://127.0.0.1:8000/health/live.
        assert "127.0.0.1" in values["ALLOWED_HOSTS"]
        assert values["REDIS_URL"] and values["DATABASE_URL"].startswith("postgres://")


def test_workers_trust_exactly_the_compose_network():
    document = compose({**REQUIRED, "CP_SUBNET": "10.99.0.0/24"})
    subnets = [
        entry["subnet"] for entry in document["networks"]["default"]["ipam"]["config"]
    ]
    trusted = document["services"]["controlplane"]["environment"]["WS_TRUSTED_PROXIES"]
    assert subnets == ["10.99.0.0/24"] and trusted == "10.99.0.0/24"


def test_workers_scale_with_cp_workers():
    document = compose({**REQUIRED, "CP_WORKERS": "5"})
    assert int(document["services"]["controlplane"]["deploy"]["replicas"]) == 5


def test_the_image_serves_on_port_8000_and_runs_real_commands():
    entrypoint = dockerfile_exec_form("ENTRYPOINT")
    assert entrypoint == ["python", "manage.py"]
    services = compose()["services"]
    commands = [
        dockerfile_exec_form("CMD"),
        services["controlplane"]["command"],
        services["migrate"]["command"],
    ]
    # The purge loop runs its manage.py commands between sleeps.
    for step in services["purge"]["command"][0].split(";"):
        if "manage.py" in step:
            loop = shlex.split(step.split("||")[0])
            commands.append(loop[loop.index("manage.py") + 1 :])
    for name, *arguments in commands:
        assert name in get_commands(), f"{name} is not a management command"
        parser = load_command_class(get_commands()[name], name).create_parser(
            "manage.py", name
        )
        parsed = parser.parse_args(arguments)
        if name == "serve":
            assert (parsed.bind, parsed.port) == ("0.0.0.0", 8000)


def test_the_image_environment_is_configuration():
    keys = set()
    for name, arguments in dockerfile_instructions():
        if name == "ENV":
            keys |= {pair.split("=", 1)[0] for pair in shlex.split(arguments)}
    python_keys = {
        key for key in keys if key.startswith("PYTHON") or key.startswith("PIP_")
    }
    assert keys - python_keys <= set(FIELDS)
    assert {"ENVIRONMENT", "DATA_DIR"} <= keys


def test_the_image_installs_the_runtime_part_of_requirements():
    text = (ROOT / "requirements.txt").read_text()
    marker = "# Tests, lint and benchmarks"
    install = " ".join(
        args for name, args in dockerfile_instructions() if name == "RUN"
    )
    assert f"/^{marker}/" in install and marker in text
    runtime = text.split(marker, 1)[0]
    for package in ("Django==", "daphne==", "redis==", "psycopg[binary]=="):
        assert package in runtime
    assert "pytest==" not in runtime


def test_env_example_names_every_variable_compose_reads():
    documented = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert used == documented
