"""Run the control plane: HTTP and agent WebSockets, with the operating hooks."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.config import get_config

SERVERS = ("daphne", "uvicorn")


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket (daphne or uvicorn) until SIGTERM, then drain."

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

    def handle(self, *args: object, **options: object) -> None:
        from bus.gateway import serving

        host, port = str(options["bind"]), int(options["port"])
        pid_path = Path(settings.DATA_DIR) / (
            str(options["pid_file"]) or f"run/serve-{port}.pid"
        )
        max_bytes = get_config().WS_MAX_MESSAGE_BYTES
        run = (
            serving.run_uvicorn
            if options["server"] == "uvicorn"
            else serving.run_daphne
        )
        self.stdout.write(
            f"serving on http://{host}:{port}/ (websocket ws://{host}:{port}/ws/) "
            f"with {options['server']}, pid file {pid_path}"
        )
        try:
            with serving.pid_file(pid_path):
                run(host, port, max_bytes)
        except serving.AlreadyRunningError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except serving.ListenError as exc:
            raise CommandError(f"cannot listen: {exc}", returncode=1) from exc
        self.stdout.write("stopped")
