"""Validate the configuration and print every effective value, secrets masked."""

from django.core.management.base import CommandError, CommandParser
from django.core.management.color import no_style

from controlplane import checks, config
from controlplane.management.base import EXIT_CODES, DocumentedCommand

# Longer values (lists, URLs) push their source right rather than widen every row.
VALUE_WIDTH = 40


class Command(DocumentedCommand):
    help = "Validate the configuration and print each key's effective value and source."
    example = "python manage.py check_config --keys-only-problems"
    exit_codes = {
        0: "the configuration is valid",
        1: "a problem was found: the environment or a stored override (on stderr)",
        2: EXIT_CODES[2],
    }

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
            self._table(values)
        for problem in problems:
            self.stderr.write(
                no_style().ERROR(f"{problem.id}: {problem.msg} {problem.hint}")
            )
        if problems:
            raise CommandError(f"{len(problems)} configuration problem(s)")
        self.stdout.write(f"configuration OK: {len(values)} keys")

    def _table(self, values: list[config.EffectiveValue]) -> None:
        """Write the keys by area under a header, sizes in binary units too."""
        # A size reads as 1 MiB first; the raw value is what .env takes.
        shown = {
            item.key: f"{item.human} ({item.shown})"
            if item.human
            else item.shown or "(empty)"
            for item in values
        }
        key_width = max(len(item.key) for item in values)
        value_width = min(max(len(text) for text in shown.values()), VALUE_WIDTH)
        self.stdout.write(
            f"Effective configuration: {len(values)} keys, secrets masked; "
            "source is default < environment < override."
        )
        self.stdout.write(f"{'KEY':<{key_width}}  {'VALUE':<{value_width}}  SOURCE")
        for area in config.area_names():
            members = [item for item in values if item.area == area]
            if not members:
                continue
            self.stdout.write(f"[{area}]")
            for item in members:
                self.stdout.write(
                    f"{item.key:<{key_width}}  {shown[item.key]:<{value_width}}  "
                    f"{item.source}"
                )
