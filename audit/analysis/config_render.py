"""Render a config template as a `.env.example` fragment and a settings snippet.

Both list the same keys with the same comments. A secret gets no default in
either: its literal must leave the code, not move to another file.
"""

from __future__ import annotations

import re

from audit.analysis.config_template import Suggestion, Template

# Values a .env line carries unquoted; anything else is quoted.
_BARE_VALUE_RE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def _env_value(suggestion: Suggestion) -> str:
    """Return the value of a .env line for a suggestion's default."""
    if suggestion.secret:
        return ""
    value = suggestion.default
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple | set):
        text = ",".join(str(item) for item in value)
    else:
        text = str(value)
    if _BARE_VALUE_RE.match(text):
        return text
    if "'" not in text:
        return f"'{text}'"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _comment(suggestion: Suggestion) -> list[str]:
    """Return the comment lines that precede a key in both renderings."""
    where = ", ".join(suggestion.locations)
    lines = [f"# {suggestion.help}: {suggestion.type}, {suggestion.code} at {where}"]
    if suggestion.secret:
        lines.append(
            "# A secret: set it in the environment, never commit it, and rotate "
            "the one that was in the code."
        )
    return lines


def env_fragment(template: Template) -> str:
    """Return the `.env.example` fragment: a comment and KEY=default per key."""
    lines = ["# Suggested by `manage.py audit --emit-config` for hard-coded values."]
    for suggestion in template.suggestions:
        lines += [
            "",
            *_comment(suggestion),
            f"{suggestion.key}={_env_value(suggestion)}",
        ]
    lines += _skipped_lines(template)
    return "\n".join(lines) + "\n"


def _env_call(suggestion: Suggestion) -> str:
    """Return the django-environ call that reads a suggestion with its type."""
    method = {"int": "int", "float": "float", "bool": "bool", "list": "list"}.get(
        suggestion.type, "str"
    )
    arguments = [repr(suggestion.key)]
    if suggestion.type == "list" and suggestion.item_type in ("int", "float"):
        arguments.append(f"cast={suggestion.item_type}")
    if not suggestion.secret:
        default = suggestion.default
        if isinstance(default, tuple | set):
            default = list(default)
        arguments.append(f"default={default!r}")
    return f"env.{method}({', '.join(arguments)})"


def settings_snippet(template: Template) -> str:
    """Return a typed django-environ settings snippet for the same keys."""
    lines = [
        '"""Settings suggested by `manage.py audit --emit-config`.',
        "",
        "Paste them into the settings module; drop the two lines below when it",
        "already has a django-environ Env. A secret has no default, so a missing",
        "one stops the start-up with ImproperlyConfigured.",
        '"""',
        "",
        "import environ",
        "",
        "env = environ.Env()",
    ]
    for suggestion in template.suggestions:
        lines += ["", *_comment(suggestion)]
        # A variable the code read in lower case still becomes an UPPER_CASE setting.
        lines.append(f"{suggestion.key.upper()} = {_env_call(suggestion)}")
    lines += _skipped_lines(template)
    return "\n".join(lines) + "\n"


def _skipped_lines(template: Template) -> list[str]:
    """Return comment lines naming the findings no key was made for, and why."""
    if not template.skipped:
        return []
    lines = ["", "# No key suggested for:"]
    lines += [f"#   {location}: {reason}" for location, reason in template.skipped]
    return lines
