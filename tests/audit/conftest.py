"""Audit fixtures: a small project tree to scan and stored runs; samples are data."""

from collections.abc import Callable
from pathlib import Path

import pytest

from audit.analysis import ALL_FAMILIES, ScanOptions
from audit.models import AuditRun
from audit.services import audit_run_execute

collect_ignore_glob = ["samples/*", "samples/**/*"]

APP_SOURCE = """\
import logging
import os

logger = logging.getLogger(__name__)
API_URL = "https://api.acme.io/v1"


def load(client):
    try:
        return client.get(API_URL, timeout=30)
    except Exception:
        pass


def mode():
    return os.getenv("MODE", "fast")


def render(value):
    return "<script>alert(1)</script>" + value
"""
CLEAN_SOURCE = """\
def add(a, b):
    return a + b
"""


@pytest.fixture
def project_tree(tmp_path: Path) -> Path:
    """A package with findings, a clean module and a file that does not parse."""
    package = tmp_path / "proj" / "app"
    package.mkdir(parents=True)
    (package / "client.py").write_text(APP_SOURCE)
    (package / "clean.py").write_text(CLEAN_SOURCE)
    (package / "broken.py").write_text("def broken(:\n")
    return package


@pytest.fixture
def rescan(db: None, project_tree: Path) -> Callable[..., AuditRun]:
    """Scan the project tree (again), as target "proj" unless told otherwise."""

    def scan_tree(target: str = "proj") -> AuditRun:
        return audit_run_execute(
            paths=[str(project_tree)],
            families=ALL_FAMILIES,
            options=ScanOptions(),
            target=target,
            jobs=1,
        )

    return scan_tree


@pytest.fixture
def audit_run(rescan: Callable[..., AuditRun]) -> AuditRun:
    """A completed run with findings and one file error."""
    return rescan()


@pytest.fixture
def empty_run(db: None, tmp_path: Path) -> AuditRun:
    """A completed run of a tree without findings."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "ok.py").write_text(CLEAN_SOURCE)
    return audit_run_execute(
        paths=[str(clean)],
        families=ALL_FAMILIES,
        options=ScanOptions(),
        target="clean",
        jobs=1,
    )


def big_module(number: int) -> str:
    """A module with two swallowed errors and a host literal per function."""
    functions = [
        f"def fetch_{number}_{index}(client):\n"
        f"    try:\n"
        f'        return client.get("https://api{index}.acme.io/v1/items/{number}")\n'
        f"    except Exception:\n"
        f"        pass\n"
        for index in range(4)
    ]
    return "\n\n".join(functions)


@pytest.fixture
def big_run(db: None, tmp_path: Path) -> AuditRun:
    """A run of 40 findings in each of two severities, under long nested paths."""
    package = tmp_path / "big" / "service_with_a_long_name" / "handlers_and_adapters"
    package.mkdir(parents=True)
    for number in range(10):
        (package / f"upstream_adapter_module_{number:02}.py").write_text(
            big_module(number)
        )
    extra = tmp_path / "big" / "another_service_directory_with_a_long_name"
    extra.mkdir()
    (extra / "clean.py").write_text(CLEAN_SOURCE)
    # The default target (every resolved path) is long: the runs list wraps it.
    return audit_run_execute(
        paths=[str(package), str(extra)],
        families=ALL_FAMILIES,
        options=ScanOptions(),
        jobs=1,
    )
