"""Read the deployment files as Docker and compose would: instructions, variables."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
IMAGE = "controlplane:latest"
# The values an operator must supply (`${VAR:?…}`), as deploy/.env would.
REQUIRED = {"SECRET_KEY": "k" * 50, "POSTGRES_PASSWORD": "compose-test-password"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments) pairs, continuations joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerfile_exec_form(instruction: str) -> list[str]:
    """Return the exec-form (JSON) arguments of the Dockerfile's one INSTRUCTION."""
    found = [args for name, args in dockerfile_instructions() if name == instruction]
    assert len(found) == 1, f"expected one {instruction}, found {found}"
    return json.loads(found[0])


def healthcheck_command() -> list[str]:
    """Return the HEALTHCHECK's exec-form command."""
    found = [args for name, args in dockerfile_instructions() if name == "HEALTHCHECK"]
    assert len(found) == 1, found
    return json.loads(found[0].split(" CMD ", 1)[1])


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Substitute ${VAR}, ${VAR:-default} and ${VAR:?error} as compose does."""

    def value(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        assert kind != "?", f"{name} is required: {rest}"
        return rest if kind == "-" else ""

    return _VARIABLE.sub(value, text).replace("$$", "$")


def compose(variables: Mapping[str, str] = REQUIRED) -> dict[str, Any]:
    """Return compose.yaml as compose sees it with these variables set."""
    return yaml.safe_load(interpolate(COMPOSE.read_text(), variables))


def control_plane_services(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the services that run the control plane image."""
    return {
        name: service
        for name, service in document["services"].items()
        if service.get("image") == IMAGE
    }
