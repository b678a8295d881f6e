"""--emit-config: suggested keys that django-environ reads back as the literals."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from audit.analysis import Finding, scan
from audit.analysis.config_render import env_fragment, settings_snippet
from audit.analysis.config_template import config_template, read_scanned
from audit.analysis.rules import RULES_BY_CODE

ROOT = Path(settings.BASE_DIR)
SERVICE = """\
import asyncio
import os

API_URL = "https://api.acme.io/v1"
password = "hunter2Xq9zLongPwd"


def load(client):
    client.get("https://api.acme.io/v2/items", timeout=30)
    client.connect(host="db.acme.io", port=5432)
    return os.getenv("MODE", "fast mode, it's 'quoted'")


async def pause():
    await asyncio.sleep(2.5)
    return int(os.getenv("WORKERS", "4"))


def flags():
    return os.getenv("debug_mode", False), os.environ.get("2X", "a")
"""
# What each suggested key holds, read back through django-environ.
EXPECTED = {
    "API_URL": "https://api.acme.io/v1",
    "MODE": "fast mode, it's 'quoted'",
    "SVC_GET_URL": "https://api.acme.io/v2/items",
    "SVC_HOST": "db.acme.io",
    "SVC_PASSWORD": "",
    "SVC_PORT": 5432,
    "SVC_SLEEP_DELAY": 2.5,
    "SVC_TIMEOUT": 30,
    "WORKERS": 4,
    "DEBUG_MODE": False,
}
READ_BACK = """\
import json, runpy, sys
import environ
if sys.argv[1]:
    environ.Env.read_env(sys.argv[1])
names = runpy.run_path(sys.argv[2])
print(json.dumps({k: v for k, v in names.items() if k.isupper()}))
"""


@pytest.fixture
def service(tmp_path: Path) -> Path:
    module = tmp_path / "app" / "svc.py"
    module.parent.mkdir()
    module.write_text(SERVICE)
    return module


def read_back(env_file: Path | None, snippet: Path) -> subprocess.CompletedProcess:
    """Load env_file with django-environ, then run the settings snippet."""
    return subprocess.run(
        [sys.executable, "-c", READ_BACK, str(env_file or ""), str(snippet)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_emit_config__django_environ_reads_back_the_literals(
    db: None, service: Path, tmp_path: Path
) -> None:
    target = tmp_path / "suggested.env"
    err = StringIO()
    call_command(
        "audit",
        str(service),
        "--emit-config",
        str(target),
        stdout=StringIO(),
        stderr=err,
    )
    snippet = tmp_path / "suggested.py"
    assert f"to {target} and {snippet}" in err.getvalue()
    fragment = target.read_text()
    assert "int, AUD103 at svc.py:10\nSVC_PORT=5432\n" in fragment
    assert "SVC_PASSWORD=\n" in fragment
    assert "\ndebug_mode=false\n" in fragment
    assert "#   svc.py:20: '2X' is not a usable variable name" in fragment
    assert "hunter2" not in fragment + snippet.read_text()

    loaded = read_back(target, snippet)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == EXPECTED

    # Without the .env, every default is the literal, and the secret is required.
    defaults = read_back(None, snippet)
    assert "ImproperlyConfigured" in defaults.stderr
    assert "Set the SVC_PASSWORD environment variable" in defaults.stderr


def test_emit_config__python_m_audit_writes_the_same_template(
    service: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.env"
    done = subprocess.run(
        [sys.executable, "-m", "audit", str(service), "--emit-config", str(target)],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = read_back(target, tmp_path / "out.py")
    assert json.loads(loaded.stdout) == EXPECTED


def test_config_template__merges_repeats_and_numbers_conflicts(tmp_path: Path) -> None:
    module = tmp_path / "net.py"
    module.write_text(
        "def a(c):\n    c.connect(port=5432)\n    c.connect(port=5432)\n"
        "def b(c):\n    c.connect(port=6379)\n"
    )
    result = scan([str(module)], jobs=1)
    template = config_template(
        result.findings,
        lambda path: read_scanned(result.root, path, result.file_hashes[path]),
    )
    ports = {s.key: (s.default, s.locations) for s in template.suggestions}
    assert ports == {
        "NET_PORT": (5432, ["net.py:2", "net.py:3"]),
        "NET_PORT_2": (6379, ["net.py:5"]),
    }


def test_config_template__skips_files_changed_since_the_scan(service: Path) -> None:
    result = scan([str(service)], jobs=1)
    service.write_text(SERVICE.replace("5432", "5433"))
    template = config_template(
        result.findings,
        lambda path: read_scanned(result.root, path, result.file_hashes[path]),
    )
    assert template.suggestions == []
    assert ("svc.py:10", "the file is gone or changed since the scan") in (
        template.skipped
    )
    assert "#   svc.py:10: the file is gone or changed since the scan" in (
        env_fragment(template)
    )
    assert "# No key suggested for:" in settings_snippet(template)


def test_config_template__never_copies_a_secret_default(tmp_path: Path) -> None:
    module = tmp_path / "keys.py"
    module.write_text(
        "import os\n"
        "def keys():\n"
        '    token = os.getenv("API_TOKEN", "tok_9f8e7d6c5b4a")\n'
        '    stripe = os.getenv("PAYMENTS", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")\n'
        '    limit = int(os.getenv("LIMIT", "sk_live_4eC39HqLyjWDarjtT1zdp7dd"))\n'
        "    return token, stripe, limit\n"
    )
    result = scan([str(module)], jobs=1)
    template = config_template(
        result.findings,
        lambda path: read_scanned(result.root, path, result.file_hashes[path]),
    )
    text = env_fragment(template) + settings_snippet(template)
    for secret in ("tok_9f8e", "sk_live_4eC3"):
        assert secret not in text
    assert "\nAPI_TOKEN=\n" in text and "\nPAYMENTS=\n" in text
    assert "API_TOKEN = env.str('API_TOKEN')" in text
    assert "#   keys.py:5: the default is not a valid int" in text


def test_config_template__a_computed_default_gets_a_reason_not_a_key(
    tmp_path: Path,
) -> None:
    """The key comes from the call a finding points at, whatever rule reported it."""
    module = tmp_path / "limits.py"
    module.write_text(
        "import os\n"
        "def limit(text):\n"
        '    return os.getenv("LIMIT", str(max(1, len(text) // 4)))\n'
    )
    result = scan([str(module)], jobs=1)
    rule = RULES_BY_CODE["AUD101"]
    computed = Finding(
        code=rule.code,
        family=rule.family,
        severity=rule.severity,
        path="limits.py",
        line=3,
        column=12,
        end_line=3,
        snippet='return os.getenv("LIMIT", str(max(1, len(text) // 4)))',
        message=rule.message,
        fix_hint=rule.fix_hint,
        fingerprint="computed",
    )
    template = config_template(
        [computed],
        lambda path: read_scanned(result.root, path, result.file_hashes[path]),
    )
    assert template.suggestions == []
    assert template.skipped == [
        (
            "limits.py:3",
            "the default of LIMIT is computed: declare it in settings by hand",
        )
    ]
