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

import pytest
from django.conf import settings
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

ROOT = Path(settings.BASE_DIR)
MIB = 1024 * 1024
MAX_MESSAGE = 4 * MIB
START_TIMEOUT_SECS = 20
# The suite's own Redis database: make test sets it, and the suite empties it
# when it starts, so tests that need Redis skip without it.
REDIS_URL = os.environ.get("REDIS_TEST_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs REDIS_TEST_URL (make test)"
)


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
    """A throwaway `redis-server` of one test, on its own port, to stop for real."""

    def __init__(self, tmp: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = tmp / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=log,
            )
        client = Redis.from_url(self.url, socket_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECS
        try:
            while True:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    client.ping()
                    return
                except RedisConnectionError:
                    assert time.monotonic() < deadline, self.log.read_text()
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it: connections are refused until it starts again."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections open, nothing answers, as a hung Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server answer again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
