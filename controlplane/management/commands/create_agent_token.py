"""Create an agent token and print it as the last line (the only time it is shown)."""

from datetime import timedelta

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from controlplane.exceptions import DuplicateAgentError
from controlplane.management.base import EXIT_CODES, DocumentedCommand
from controlplane.tokens import agent_token_create


class Command(DocumentedCommand):
    help = "Create an agent token and print it as the last line of output."
    example = (
        "python manage.py create_agent_token ci-runner --expires-in-days 30 "
        "--allow-tool echo"
    )
    exit_codes = {**EXIT_CODES, 1: "an agent with that name exists"}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Unique agent name.")
        parser.add_argument(
            "--expires-in-days",
            type=float,
            default=None,
            help="Days until the token expires; default: never.",
        )
        parser.add_argument(
            "--allow-tool",
            action="append",
            default=[],
            help="A tool the agent may call (repeat); default: every tool.",
        )

    def handle(self, *args: object, **options: object) -> None:
        days = options["expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in-days must be positive", returncode=2)
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            agent, raw = agent_token_create(
                name=str(options["name"]),
                expires_at=expires_at,
                allowed_tools=list(options["allow_tool"]),
            )
        except DuplicateAgentError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if options["verbosity"]:
            expiry = (
                f"expires {expires_at:%Y-%m-%d %H:%M} UTC"
                if expires_at
                else "no expiry"
            )
            tools = ", ".join(agent.allowed_tools) or "all tools"
            self.stdout.write(
                f"created agent '{agent.name}' ({expiry}; {tools}); "
                "its token (shown only now):"
            )
        self.stdout.write(raw)
