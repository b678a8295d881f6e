"""Run `serve --workers N`: one listening socket shared by N worker processes.

The parent binds the port once and starts N `serve` processes that inherit the
socket (daphne adopts it as an `fd:` endpoint, uvicorn takes it as a socket),
so the kernel hands each new connection to whichever worker accepts first. It
forwards SIGTERM and SIGINT to every worker, waits for their drain, and
restarts nothing: a worker that exits on its own stops the others and the
parent exits non-zero, for the process manager above it to decide.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from types import FrameType

from bus.gateway.serving import ListenError

logger = logging.getLogger(__name__)

# How often the parent looks for exited workers and signals to forward; a
# signal handler only records, so that no worker is started or signalled twice.
SUPERVISE_POLL_SECS = 0.1
FORWARDED = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start one worker: its command line and environment."""

    index: int
    command: list[str]
    environment: dict[str, str]


def bind(host: str, port: int) -> socket.socket:
    """Return the inheritable listening socket for every worker; raise ListenError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server(
            (host, port), family=family, backlog=socket.SOMAXCONN
        )
    except OSError as exc:
        raise ListenError(f"{host}:{port}: {exc.strerror}") from exc
    listener.set_inheritable(True)
    return listener


def supervise(*, listener: socket.socket, workers: list[WorkerSpec]) -> int:
    """Run the workers until they have all exited; return the parent's exit code."""
    requested: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        requested.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in FORWARDED}
    try:
        children = _start(listener, workers)
        return _wait(children, requested)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start(
    listener: socket.socket, workers: list[WorkerSpec]
) -> dict[int, subprocess.Popen[bytes]]:
    children: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for spec in workers:
            # A process group of its own: a terminal's Ctrl-C reaches the
            # parent only, which forwards it once; a worker that got it twice
            # would take it as the second signal and cancel its calls at once.
            children[spec.index] = subprocess.Popen(
                spec.command,
                env=spec.environment,
                pass_fds=(listener.fileno(),),
                process_group=0,
            )
            logger.info(
                "Started worker %d (pid %d)", spec.index, children[spec.index].pid
            )
    except OSError:
        for child in children.values():
            child.terminate()
            child.wait()
        raise
    finally:
        # The workers hold the socket now; the parent's copy would keep a
        # stopped deployment's port accepting into a queue nobody reads.
        listener.close()
    return children


def _wait(children: dict[int, subprocess.Popen[bytes]], requested: list[int]) -> int:
    forwarded = 0
    running = dict(children)
    failed = False
    while running:
        for signum in requested[forwarded:]:
            for child in running.values():
                child.send_signal(signum)
        forwarded = len(requested)
        for index, child in list(running.items()):
            code = child.poll()
            if code is None:
                continue
            del running[index]
            if code == 0 and requested:
                logger.info("Worker %d (pid %d) stopped", index, child.pid)
                continue
            failed = True
            logger.error(
                "Worker %d (pid %d) exited with %d; stopping the others",
                index,
                child.pid,
                code,
            )
            if not requested:
                requested.append(signal.SIGTERM)
        time.sleep(SUPERVISE_POLL_SECS)
    return 1 if failed else 0
