"""Run the MCP stdio bridge (the same program as `python -m bus.mcp_bridge`)."""

from django.core.management.base import CommandError, CommandParser

from bus.mcp_bridge.cli import add_arguments, run, settings_of
from controlplane.management.base import DocumentedCommand


class Command(DocumentedCommand):
    help = (
        "Serve the gateway's tools to an MCP client over stdio, calling the "
        "gateway's WebSocket; logs go to stderr."
    )
    example = (
        "python manage.py mcp_bridge --url ws://127.0.0.1:8000/ws/ "
        "--token-env CONTROLPLANE_TOKEN"
    )
    exit_codes = {
        0: "the MCP client closed stdin",
        1: "the bridge failed",
        2: "bad arguments (no --url, an empty --token-env variable)",
    }
    # The bridge uses none of the project's apps or its database.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        try:
            settings = settings_of(options)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        # No summary line: stdout belongs to the MCP client.
        run(settings)
