""".env.example documents every schema key with its default, and nothing else."""

import re
from pathlib import Path

from controlplane import config

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _documented() -> dict[str, str]:
    pairs = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=(.*)$", EXAMPLE.read_text(), re.M)
    return dict(pairs)


def test_env_example__lists_every_key_with_its_default():
    documented = _documented()
    assert set(documented) == set(config.FIELDS)
    for key in config.FIELDS:
        if key == "SECRET_KEY":
            continue
        assert documented[key] == config.render_value(
            key, config.default_of(key), reveal=True
        ), key


def test_env_example__every_key_has_a_help_line():
    lines = EXAMPLE.read_text().splitlines()
    for key in config.FIELDS:
        at = next(i for i, line in enumerate(lines) if re.match(f"^(# )?{key}=", line))
        assert lines[at - 1].startswith("# ") and "default:" in lines[at - 1], key
