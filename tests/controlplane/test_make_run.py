"""The README's run command serves /health/ on SQLite and writes only under var/."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# What `make run` may leave in a checkout besides the data directory: its setup
# (.env), the SQLite database of DATABASE_URL's default, and Python's bytecode.
SETUP_FILES = {".env", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"}


def _copy_checkout(target: Path) -> set[str]:
    """Copy the tracked files to target and return their names."""
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    copied = set()
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
            copied.add(name)
    return copied


def _written_outside_data_dir(checkout: Path, tracked: set[str]) -> list[str]:
    """Return the files in checkout that are neither tracked, setup, nor under var/."""
    return sorted(
        name
        for path in checkout.rglob("*")
        if path.is_file()
        and (name := path.relative_to(checkout).as_posix()) not in tracked
        and name not in SETUP_FILES
        and name != "run.log"
        and not name.startswith("var/")
        and "__pycache__" not in path.parts
    )


def _wait_for(path: Path) -> bool:
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.exists()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_make_run__serves_health_and_prints_dev_credentials(tmp_path):
    tracked = _copy_checkout(tmp_path)
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "DJANGO_", "REDIS_"))
    }
    log = tmp_path / "run.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}", f"VENV={ROOT / '.venv'}"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline, status = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health/?format=json")
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.5)
        output = log.read_text()
        assert status == 200, output
        assert '"Database' in body
        assert "created admin user 'admin' with password: " in output
        assert f"ws://127.0.0.1:{port}/ws/" in output
        assert (tmp_path / ".env").exists() and (tmp_path / "db.sqlite3").exists()
        admin_status, _ = _get(f"http://127.0.0.1:{port}/admin/login/")
        assert admin_status == 200
        assert (tmp_path / "var" / "run" / f"serve-{port}.pid").exists()
        assert _wait_for(tmp_path / "var" / "logs" / "ws_daemon.health.json")
        assert (tmp_path / "var" / "media").is_dir()
        assert _written_outside_data_dir(tmp_path, tracked) == []
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
