"""Create the development admin user and agent token on first run."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import CommandParser

from controlplane.management.base import DocumentedCommand
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create

DEV_AGENT = "dev-agent"


class Command(DocumentedCommand):
    help = (
        "Create the dev admin user and agent token if missing, printing secrets once."
    )
    example = "python manage.py bootstrap_dev --port 8000"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="Admin user name.")
        parser.add_argument("--host", default="127.0.0.1", help="Host shown in URLs.")
        parser.add_argument(
            "--port", default=8000, type=int, help="Port shown in URLs."
        )

    def handle(self, *args: object, **options: object) -> None:
        username, base = options["username"], f"{options['host']}:{options['port']}"
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            self.stdout.write(
                f"admin user '{username}' exists (password shown on first run)"
            )
        else:
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser(
                username=username, email="", password=password
            )
            self.stdout.write(
                f"created admin user '{username}' with password: {password}"
            )
        if AgentToken.objects.filter(name=DEV_AGENT).exists():
            self.stdout.write(
                f"agent '{DEV_AGENT}' exists (token shown on first run; make another: "
                "`python manage.py create_agent_token NAME`)"
            )
        else:
            _, raw = agent_token_create(name=DEV_AGENT)
            self.stdout.write(f"created agent '{DEV_AGENT}' with token: {raw}")
        self.stdout.write(f"admin:     http://{base}/admin/")
        self.stdout.write(f"websocket: ws://{base}/ws/")
        self.stdout.write(f"health:    http://{base}/health/")
