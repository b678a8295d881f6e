"""Which server process this is, and the run-time files each worker owns."""

from __future__ import annotations

import os
import socket
from pathlib import PurePath


def worker_id() -> str:
    """Return this process's worker id, `<hostname>:<pid>` (PROTOCOL.md "health")."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_path(path: str, *, index: int, count: int) -> str:
    """Return worker `index`'s own file for a configured path, the path when alone.

    `logs/ws_daemon.health.json` is `logs/ws_daemon.health.w1.json` for worker
    1 of several: beside the configured file, so readers find it by pattern.
    """
    if count == 1:
        return path
    configured = PurePath(path)
    return str(configured.with_name(f"{configured.stem}.w{index}{configured.suffix}"))
