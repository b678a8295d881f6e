"""A real `manage.py serve` in a subprocess, for end-to-end and hostile-client tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

ROOT = Path(settings.BASE_DIR)
MIB = 1024 * 1024
MAX_MESSAGE = 4 * MIB
START_TIMEOUT_SECS = 20
REDIS_START_TIMEOUT_SECS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}{port}/{db['NAME']}"


class Server:
    """A running `manage.py serve` and the files it owns."""

    def __init__(
        self,
        tmp: Path,
        port: int,
        kind: str = "daphne",
        workers: int = 1,
        **environment: str,
    ) -> None:
        self.port, self.kind, self.workers = port, kind, workers
        self.health = tmp / "health.json"
        self.metrics = tmp / "metrics.jsonl"
        self.pid_file = tmp / "serve.pid"
        self.log = tmp / "serve.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATA_DIR": str(tmp),
            "WS_PROGRESS_INTERVAL_SECS": "0.05",
            "WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
            "WS_HEALTH_PATH": str(self.health),
            "WS_METRICS_PATH": str(self.metrics),
            "WS_SHUTDOWN_GRACE_SECS": "0.5",
            **environment,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(self.port),
            "--pid-file",
            str(self.pid_file),
            "--server",
            self.kind,
            *(["--workers", str(self.workers)] if self.workers != 1 else []),
        ]

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def redis_keys_cleared(url: str, prefix: str) -> Iterator[None]:
    """Delete the keys under `prefix` before and after: servers share that Redis."""
    client = Redis.from_url(url)

    def clear() -> None:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)

    clear()
    try:
        yield
    finally:
        clear()
        client.close()


class RedisServer:
    """A redis-server of this test's own, without persistence, on one port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_SECS
        while True:
            try:
                client.ping()
                break
            except RedisConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
