"""The health snapshot file `manage.py serve` rewrites (EX-AI daemon format)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from bus.gateway.deployment import worker_snapshot
from bus.gateway.metrics import resolve_path
from bus.gateway.pipeline import Gateway

logger = logging.getLogger(__name__)

# Fixed by the protocol: the EX-AI shim refuses a file older than 20 seconds.
HEALTH_FILE_INTERVAL_SECS = 10.0


async def health_record(
    gateway: Gateway, *, host: str, port: int, started_at: float
) -> dict[str, Any]:
    """Return the snapshot in the EX-AI daemon's health file format.

    The file describes its own worker (each worker writes its own file, and a
    local supervisor asks about the process it watches), so its `sessions` and
    `global_inflight` are this worker's, not the deployment's of `health`.
    """
    health = await gateway.health()
    own = worker_snapshot(gateway)
    return {
        "t": health["t"],
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "started_at": started_at,
        "uptime_human": health["uptime_human"],
        "sessions": own.sessions,
        "global_capacity": health["global_capacity"],
        "global_inflight": own.slots,
        "tool_count": health["tool_count"],
    }


def write_health_file(path: Path, record: dict[str, Any]) -> None:
    """Replace the file atomically so a reader never sees half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(record), encoding="utf-8")
    os.replace(partial, path)


async def keep_health_file(
    gateway: Gateway, path_setting: str, *, host: str, port: int, started_at: float
) -> None:
    """Rewrite the health file every HEALTH_FILE_INTERVAL_SECS until cancelled."""
    path = resolve_path(path_setting)
    while True:
        record = await health_record(
            gateway, host=host, port=port, started_at=started_at
        )
        try:
            write_health_file(path, record)
        except OSError:
            logger.exception("Cannot write the health file %s", path)
        await asyncio.sleep(HEALTH_FILE_INTERVAL_SECS)


def remove_health_file(path_setting: str) -> None:
    """Remove the health file on clean shutdown (absent already is fine)."""
    resolve_path(path_setting).unlink(missing_ok=True)
