"""The README's run command brings up a server that answers /health/ on SQLite."""

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


def _copy_checkout(target: Path) -> None:
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_make_run__serves_health_and_prints_dev_credentials(tmp_path):
    _copy_checkout(tmp_path)
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
