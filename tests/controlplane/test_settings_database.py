"""DATABASES from DATABASE_URL: connections kept and checked unless the URL says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PRINT_OPTIONS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps([d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS']]))"
)


def _options(url: str) -> list[object]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@127.0.0.1:5432/d", [60, True]),
        ("sqlite:///db.sqlite3", [60, True]),
        ("postgres://u@127.0.0.1:5432/d?conn_max_age=0", [0, True]),
        (
            "postgres://u@127.0.0.1:5432/d?conn_max_age=300&conn_health_checks=false",
            [300, False],
        ),
        ("postgres://u@127.0.0.1:5432/d?conn_health_checks=true", [60, True]),
    ],
)
def test_settings__database_connections_kept_and_checked_unless_the_url_says(
    url: str, expected: list[object]
) -> None:
    assert _options(url) == expected
