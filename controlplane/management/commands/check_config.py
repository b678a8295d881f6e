"""Validate the configuration and print every effective value, secrets masked."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style

from controlplane import checks, config


class Command(BaseCommand):
    help = "Validate the configuration and print each key's effective value and source."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keys-only-problems",
            action="store_true",
            help="Print only the problems, not the table of values.",
        )

    def handle(self, *args: object, **options: object) -> None:
        # The environment was validated when settings loaded (a bad one never gets
        # here); what is left to check is the stored overrides.
        values = config.effective_values()
        problems = checks.check_overrides()
        if not options["keys_only_problems"] and options["verbosity"] >= 1:
            width = max(len(item.key) for item in values)
            for item in values:
                self.stdout.write(
                    f"{item.key:<{width}}  {item.shown:<40}  {item.source}"
                )
        for problem in problems:
            self.stderr.write(
                no_style().ERROR(f"{problem.id}: {problem.msg} {problem.hint}")
            )
        if problems:
            raise CommandError(f"{len(problems)} configuration problem(s)")
        self.stdout.write(f"configuration OK: {len(values)} keys")
