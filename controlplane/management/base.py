"""The one help layout of every management command: defaults, exit codes, example.

Commands subclass ``DocumentedCommand`` and set ``example`` (and ``exit_codes``
when theirs differ from STYLE.md's 0/1/2); ``--help`` then shows each option's
default, what each exit code means and how to run the command.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser, DjangoHelpFormatter

EXIT_CODES = {
    0: "success, including nothing to do",
    1: "the operation failed",
    2: "bad arguments or configuration",
}
# Defaults that say nothing: an unset option, a switch that is off, no values.
_UNSAID = (None, False, [], (), "", argparse.SUPPRESS)


class HelpFormatter(DjangoHelpFormatter):
    """Django's layout, plus each option's default; the epilog keeps its lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in _UNSAID or "default" in text.lower():
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        # %% because argparse expands %(...)s in help strings.
        shown = str(action.default).replace("%", "%%")
        return f"{text} (default: {shown})"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))


class DocumentedCommand(BaseCommand):
    """A command whose --help ends with its exit codes and an example."""

    example: str = ""
    exit_codes: dict[int, str] = EXIT_CODES

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", self._epilog(subcommand))
        return super().create_parser(prog_name, subcommand, **kwargs)

    def _epilog(self, subcommand: str) -> str:
        codes = "\n".join(
            f"  {code}  {meaning}" for code, meaning in sorted(self.exit_codes.items())
        )
        example = self.example or f"python manage.py {subcommand}"
        return f"exit codes:\n{codes}\n\nexample:\n  {example}\n"
