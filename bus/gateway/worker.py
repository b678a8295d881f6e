"""Which server process this is, and the run-time files each worker owns."""

from __future__ import annotations

import os
import socket
from pathlib import PurePath

# Every metrics line and Prometheus child names its worker: computed once per
# process rather than a gethostname() system call per call answered.
_worker_id = ""


def worker_id() -> str:
    """Return this process's worker id, `<hostname>:<pid>` (PROTOCOL.md "health")."""
    global _worker_id
    if not _worker_id:
        _worker_id = f"{socket.gethostname()}:{os.getpid()}"
    return _worker_id


def _forget_worker_id() -> None:
    global _worker_id
    _worker_id = ""


# A forked child is another worker with its own pid (serve spawns its workers
# as new processes today; a fork must not inherit the parent's id either).
os.register_at_fork(after_in_child=_forget_worker_id)


def worker_path(path: str, *, index: int, count: int) -> str:
    """Return worker `index`'s own file for a configured path, the path when alone.

    `logs/ws_daemon.health.json` is `logs/ws_daemon.health.w1.json` for worker
    1 of several: beside the configured file, so readers find it by pattern.
    """
    if count == 1:
        return path
    configured = PurePath(path)
    return str(configured.with_name(f"{configured.stem}.w{index}{configured.suffix}"))
