"""Run the control plane: HTTP and agent WebSockets, with the operating hooks."""

import argparse
import os
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from controlplane.config import get_config
from controlplane.management.base import EXIT_CODES, DocumentedCommand

SERVERS = ("daphne", "uvicorn")


class Command(DocumentedCommand):
    help = "Serve HTTP and WebSocket (daphne or uvicorn) until SIGTERM, then drain."
    example = "python manage.py serve --bind 0.0.0.0 --port 8000 --workers 4"
    exit_codes = {
        0: "stopped by SIGTERM or Ctrl-C after draining",
        1: "could not listen (port busy, another serve running) or a worker failed",
        2: EXIT_CODES[2],
    }

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind", default="127.0.0.1", help="Interface to listen on."
        )
        parser.add_argument("--port", default=8000, type=int, help="TCP port.")
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default="daphne",
            help="ASGI server: daphne (default) or uvicorn (faster, uvloop).",
        )
        parser.add_argument(
            "--pid-file",
            default="",
            help="PID file guarding the port; default run/serve-PORT.pid, relative "
            "paths under DATA_DIR.",
        )
        parser.add_argument(
            "--workers",
            default=1,
            type=int,
            help="Worker processes sharing the port (default 1); each has its own "
            "health, metrics and PID files, NAME.wN.EXT beside the configured ones.",
        )
        # Set by the parent of --workers for each worker: the listening socket
        # it inherits.
        parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)

    def handle(self, *args: object, **options: object) -> None:
        from bus.gateway import serving, supervisor

        host, port = str(options["bind"]), int(options["port"])
        workers = int(options["workers"])
        if workers < 1:
            raise CommandError("--workers must be at least 1", returncode=2)
        pid_path = Path(settings.DATA_DIR) / (
            str(options["pid_file"]) or f"run/serve-{port}.pid"
        )
        announcement = (
            f"serving on http://{host}:{port}/ (websocket ws://{host}:{port}/ws/) "
            f"with {options['server']}, pid file {pid_path}"
            + (f", {workers} workers" if workers > 1 else "")
        )
        try:
            # Nothing is announced before the port is known to be ours: the PID
            # file, then the port itself (bound for the workers, or probed).
            with serving.pid_file(pid_path):
                if workers > 1:
                    listener = supervisor.bind(host, port)
                    self.stdout.write(announcement)
                    code = self._supervise(
                        listener, host, port, workers, pid_path, options
                    )
                else:
                    if options["listen_fd"] is None:
                        supervisor.bind(host, port).close()
                    self.stdout.write(announcement)
                    self._serve(host, port, options)
                    code = 0
        except serving.AlreadyRunningError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except serving.ListenError as exc:
            raise CommandError(f"cannot listen: {exc}", returncode=1) from exc
        if code:
            raise CommandError("a worker failed; see its log above", returncode=code)
        self.stdout.write("stopped")

    def _serve(self, host: str, port: int, options: dict[str, object]) -> None:
        from bus.gateway import serving

        run = (
            serving.run_uvicorn
            if options["server"] == "uvicorn"
            else serving.run_daphne
        )
        fd = options["listen_fd"]
        run(
            host,
            port,
            get_config().WS_MAX_MESSAGE_BYTES,
            None if fd is None else int(str(fd)),
        )

    def _supervise(
        self,
        listener: socket.socket,
        host: str,
        port: int,
        workers: int,
        pid_path: Path,
        options: dict[str, object],
    ) -> int:
        from bus.gateway import supervisor
        from bus.gateway.worker import worker_path

        config = get_config()
        specs = []
        for index in range(1, workers + 1):
            derived = {
                "WS_HEALTH_PATH": worker_path(
                    config.WS_HEALTH_PATH, index=index, count=workers
                ),
                "WS_METRICS_PATH": worker_path(
                    config.WS_METRICS_PATH, index=index, count=workers
                ),
            }
            command = [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "serve",
                "--bind",
                host,
                "--port",
                str(port),
                "--server",
                str(options["server"]),
                "--pid-file",
                worker_path(str(pid_path), index=index, count=workers),
                "--listen-fd",
                str(listener.fileno()),
                # The parent ran the system checks (and printed their warnings,
                # such as a misspelt key) once for all its workers.
                "--skip-checks",
            ]
            # The worker reads its own files' paths from its environment, like
            # every configuration key (neither path is overridable).
            specs.append(
                supervisor.WorkerSpec(
                    index=index,
                    command=command,
                    environment={**os.environ, **derived},
                )
            )
        return supervisor.supervise(listener=listener, workers=specs)
