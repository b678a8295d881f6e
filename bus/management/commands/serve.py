"""Run the control plane under daphne with limits taken from configuration."""

from django.core.management.base import BaseCommand, CommandParser

from controlplane.config import get_config


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket with daphne, sized by WS_MAX_MESSAGE_BYTES."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind", default="127.0.0.1", help="Interface to listen on."
        )
        parser.add_argument("--port", default=8000, type=int, help="TCP port.")

    def handle(self, *args: object, **options: object) -> None:
        from daphne.server import Server

        from controlplane.asgi import application

        max_bytes = get_config().WS_MAX_MESSAGE_BYTES
        self.stdout.write(f"serving on http://{options['bind']}:{options['port']}/")
        Server(
            application=application,
            endpoints=[f"tcp:port={options['port']}:interface={options['bind']}"],
            websocket_max_message_size=max_bytes,
            websocket_max_frame_size=max_bytes,
        ).run()
