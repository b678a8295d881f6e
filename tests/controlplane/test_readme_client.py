"""The README's client example, pasted as it is, works twice against a real serve."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from controlplane.tokens import agent_token_create

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Connecting an agent"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _snippets() -> list[str]:
    """Return the section's shell blocks: the export line, then the client."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_readme_client__runs_twice_with_the_printed_token_and_port(
    control_plane,
) -> None:
    exports, client = _snippets()[:2]
    assert "AGENT_TOKEN=" in exports and "CP_PORT=" in exports
    assert "8000" not in client and "r-1" not in client
    server = control_plane()
    _, token = agent_token_create(name="readme-reader")
    environment = {**server.env, "AGENT_TOKEN": token, "CP_PORT": str(server.port)}
    answers = []
    for _ in range(2):
        done = subprocess.run(
            ["bash", "-c", client],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        frames = [json.loads(line) for line in done.stdout.splitlines()]
        assert frames[0]["op"] == "hello_ack"
        answers.append(frames[-1])
    for answer in answers:
        assert answer["op"] == "call_tool_res" and "error" not in answer
        assert answer["outputs"] == [{"type": "text", "text": "hi"}]
    assert answers[0]["request_id"] != answers[1]["request_id"]
