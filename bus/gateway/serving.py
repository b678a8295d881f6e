"""Run the ASGI application under daphne or uvicorn with the operating hooks.

Both servers get the same lifecycle (PROTOCOL.md "Operating hooks"): the health
file while running; on SIGTERM or SIGINT stop accepting, let calls in flight
finish for WS_SHUTDOWN_GRACE_SECS, cancel the rest, close sessions with 1001,
remove the health file. A second signal (a double Ctrl-C) cuts the grace short
and cancels the calls at once, but the sessions are still closed and the files
still removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from bus.apps import bus_app
from bus.gateway.deployment import keep_published, withdraw
from bus.gateway.health_file import keep_health_file, remove_health_file
from bus.protocol import CloseCode
from controlplane.config import aget_config

logger = logging.getLogger(__name__)

APPLICATION = "controlplane.asgi:application"


class AlreadyRunningError(Exception):
    """Another live server owns the PID file of this port."""


class ListenError(Exception):
    """The server could not listen on its address."""


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Exists, owned by someone else: still running.
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        # Unreadable or half-written: nothing proves a live owner.
        return None


@contextmanager
def pid_file(path: Path) -> Iterator[None]:
    """Hold the PID file for the server's lifetime; raise AlreadyRunningError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_pid(path)
            if owner is not None and _alive(owner):
                raise AlreadyRunningError(
                    f"another server (pid {owner}) is running; PID file {path}"
                ) from None
            logger.warning("Removing stale PID file %s (pid %s is gone)", path, owner)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        break
    else:
        raise AlreadyRunningError(f"cannot take the PID file {path}")
    try:
        yield
    finally:
        if _read_pid(path) == os.getpid():
            path.unlink(missing_ok=True)


class Lifecycle:
    """Start-up and graceful shutdown shared by both servers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.started_at = time.time()
        self.health_task: asyncio.Task[None] | None = None
        self.publish_task: asyncio.Task[None] | None = None
        self.health_path = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hurried = asyncio.Event()
        self.hurry_requested = False

    def hurry(self) -> None:
        """End the grace now; safe to call from a signal handler."""
        # The flag covers a signal that comes before the loop is known; the
        # event wakes a drain already waiting.
        self.hurry_requested = True
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.hurried.set)

    async def start(self) -> None:
        """Begin rewriting the health file and publishing this worker's snapshot."""
        self.loop = asyncio.get_running_loop()
        config = await aget_config()
        self.health_path = config.WS_HEALTH_PATH
        self.health_task = asyncio.create_task(
            keep_health_file(
                bus_app().gateway,
                self.health_path,
                host=self.host,
                port=self.port,
                started_at=self.started_at,
            )
        )
        self.publish_task = asyncio.create_task(keep_published(bus_app().gateway))
        await bus_app().upstreams.start()
        logger.info("Serving on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Drain calls, close sessions and remove the health file."""
        config = await aget_config()
        grace = config.WS_SHUTDOWN_GRACE_SECS
        logger.info(
            "Shutting down: letting calls finish for up to %gs "
            "(signal again to cancel them now)",
            grace,
        )
        cancelled = await self._drain(grace)
        if cancelled:
            logger.warning(
                "Cancelled %d call(s) still running after the grace", cancelled
            )
        await bus_app().gateway.close_sessions(CloseCode.GOING_AWAY)
        await bus_app().upstreams.stop()
        if self.health_task is not None:
            self.health_task.cancel()
            remove_health_file(self.health_path)
        if self.publish_task is not None:
            self.publish_task.cancel()
            await withdraw(bus_app().gateway)
        logger.info("Shutdown complete")

    async def _drain(self, grace: float) -> int:
        """Drain for grace seconds, or until hurry(); return the calls cancelled."""
        self.loop = asyncio.get_running_loop()
        if self.hurry_requested:
            self.hurried.set()
        gateway = bus_app().gateway
        draining = asyncio.ensure_future(gateway.drain(grace))
        hurried = asyncio.ensure_future(self.hurried.wait())
        await asyncio.wait({draining, hurried}, return_when=asyncio.FIRST_COMPLETED)
        hurried.cancel()
        if draining.done():
            return draining.result()
        logger.warning("Second signal: cancelling the calls in flight now")
        cancelled = await gateway.drain(0)
        # The first drain only waits on the same calls, which are over now;
        # asyncio.wait collects it without raising its cancellation here.
        draining.cancel()
        await asyncio.wait({draining})
        return cancelled


def run_daphne(host: str, port: int, max_bytes: int, fd: int | None = None) -> None:
    """Serve under daphne until SIGTERM or SIGINT; raise ListenError.

    With `fd`, serve on that inherited listening socket (a worker of `serve
    --workers`) instead of binding host and port.
    """
    from daphne.server import Server, twisted_loop
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor

    from controlplane.asgi import application

    lifecycle = Lifecycle(host, port)
    started: list[asyncio.Task[None]] = []

    class DrainingServer(Server):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.ports: list[Any] = []
            self.failure = ""

        def listen_success(self, listening: Any) -> None:
            self.ports.append(listening)
            super().listen_success(listening)

        def listen_error(self, failure: Any) -> None:
            self.failure = failure.getErrorMessage()
            super().listen_error(failure)

        async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
            await super().handle_reply(protocol, message)
            if message["type"] == "websocket.send":
                await protocol.writable.wait()

    stopping: list[bool] = []

    def on_signal() -> None:
        if stopping:
            lifecycle.hurry()
            return
        stopping.append(True)
        for listening in server.ports:
            listening.stopListening()
        task = twisted_loop.create_task(lifecycle.stop())
        task.add_done_callback(stopped)

    def stopped(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("Graceful shutdown failed", exc_info=task.exception())
        reactor.stop()

    class RegisteredCloseCodes(WebSocketProtocol):
        # autobahn lets applications send only 1000 and 3000-4999; the protocol
        # needs 1013 (hello while the database is down), 1001 (shutdown) and
        # 1008 (a client that does not read).
        def serverClose(self, code: int | None = None) -> None:
            if code in (
                CloseCode.GOING_AWAY,
                CloseCode.TRY_AGAIN_LATER,
                CloseCode.POLICY_VIOLATION,
            ):
                self.sendCloseFrame(code=code, isReply=False)
            else:
                super().serverClose(code)

    class SendWaitsForClient(RegisteredCloseCodes):
        # daphne's send returns at once and Twisted buffers whatever the
        # application sends, read or not; uvicorn's waits while the socket's
        # buffer is full. As the transport's producer (in place of the HTTP
        # channel that upgraded), this protocol hears when Twisted's buffer
        # passes its high-water mark and when it has drained, and handle_reply
        # waits in between: the consumer's queue (transports/outbound.py) then
        # holds what the client has not read, under either server.
        def connectionMade(self) -> None:
            self.writable = asyncio.Event()
            self.writable.set()
            super().connectionMade()
            self.transport.unregisterProducer()
            self.transport.registerProducer(self, True)

        def pauseProducing(self) -> None:
            self.writable.clear()

        def resumeProducing(self) -> None:
            self.writable.set()

        def stopProducing(self) -> None:
            # The connection is gone: nothing will drain, nobody may wait.
            self.writable.set()

    def on_ready() -> None:
        server.ws_factory.protocol = SendWaitsForClient
        # By default autobahn drops the TCP connection on a too-large message;
        # the protocol promises a close frame with 1009.
        server.ws_factory.setProtocolOptions(failByDrop=False)
        # Held here: the event loop keeps only a weak reference to a task.
        started.append(twisted_loop.create_task(lifecycle.start()))
        for signum in (signal.SIGTERM, signal.SIGINT):
            twisted_loop.add_signal_handler(signum, on_signal)

    server = DrainingServer(
        application=application,
        endpoints=[_daphne_endpoint(host, port, fd)],
        signal_handlers=False,
        websocket_max_message_size=max_bytes,
        websocket_max_frame_size=max_bytes,
        ready_callable=on_ready,
    )
    server.run()
    if server.failure:
        raise ListenError(server.failure)


def _daphne_endpoint(host: str, port: int, fd: int | None) -> str:
    if fd is None:
        return f"tcp:port={port}:interface={host}"
    if ":" in host:
        # Twisted's `fd:` endpoint string cannot name AF_INET6 (its domain
        # stays a string), so an inherited IPv6 socket is refused here.
        raise ListenError("daphne workers need an IPv4 --bind; use --server uvicorn")
    return f"fd:fileno={fd}"


def run_uvicorn(host: str, port: int, max_bytes: int, fd: int | None = None) -> None:
    """Serve under uvicorn (uvloop, httptools) until SIGTERM or SIGINT.

    With `fd`, serve on that inherited listening socket (a worker of `serve
    --workers`) instead of binding host and port.
    """
    import uvicorn

    from bus.gateway.uvicorn_writes import TurnWritesProtocol

    lifecycle = Lifecycle(host, port)

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                # uvicorn's answer to a second SIGINT, force_exit, would skip
                # closing the connections; cutting the grace short keeps it.
                lifecycle.hurry()
                return
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                await lifecycle.start()

        async def shutdown(self, sockets: Any = None) -> None:
            for listening in self.servers:
                listening.close()
            await lifecycle.stop()
            await super().shutdown(sockets)
            # uvicorn re-raises the captured SIGTERM after serving, which would
            # kill the process before the PID file is removed; the drain above
            # is the handling, so the command exits normally instead.
            self._captured_signals.clear()

    config = uvicorn.Config(
        APPLICATION,
        host=host,
        port=port,
        # uvicorn's own protocol (websockets-sansio), with one socket write per
        # loop turn instead of one per frame (uvicorn_writes.py).
        ws=TurnWritesProtocol,
        ws_max_size=max_bytes,
        ws_per_message_deflate=False,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = DrainingServer(config)
    server.run(sockets=None if fd is None else [socket.socket(fileno=fd)])
    if not server.started:
        raise ListenError(f"cannot listen on {host}:{port}")
