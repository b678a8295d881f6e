#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    """Run a management command; a bad configuration prints one line per problem."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    from django.core.management import execute_from_command_line

    from controlplane.exceptions import ConfigError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018  (loads settings, which validate the env)
    except ConfigError as exc:
        # A bad environment is an operator's mistake, not a crash: say what to fix.
        # check_config exists to validate, so "invalid" is its result (1), while
        # any other command could not run because of configuration (2).
        sys.stderr.write(f"{exc}\n")
        sys.exit(1 if sys.argv[1:2] == ["check_config"] else 2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
