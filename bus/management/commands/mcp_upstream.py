"""Register, list, refresh and remove upstream MCP servers whose tools agents call."""

from __future__ import annotations

import argparse
import shlex

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from bus.exceptions import (
    UpstreamInvalidError,
    UpstreamNotFoundError,
    UpstreamUnreachableError,
)
from bus.gateway.upstreams import services
from bus.gateway.upstreams.spec import masked
from bus.models import McpUpstream
from controlplane.config import get_config
from controlplane.management.base import DocumentedCommand

ABOUT = """\
The tools of an upstream are listed to agents as <prefix>__<tool> (the prefix
defaults to NAME) within a few seconds on every running server (each server
checks the tool rows every CONFIG_REFRESH_SECS, default 2 s). A tool is
idempotent (cached, coalesced) when its readOnlyHint or idempotentHint
annotation is true. Headers and environment values are secrets: `list` shows
their names only."""

EXAMPLES = """\
examples:
  manage.py mcp_upstream add files --stdio "python -m files_server --root /srv"
  manage.py mcp_upstream add search --url https://mcp.example.com/mcp \\
      --header "Authorization: Bearer $SEARCH_TOKEN" --provider search-api
  manage.py mcp_upstream list
  manage.py mcp_upstream refresh search
  manage.py mcp_upstream remove files
"""


def _pair(raw: str, separator: str, what: str) -> tuple[str, str]:
    key, found, value = raw.partition(separator)
    if not found or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{what} must look like 'NAME{separator} VALUE', got {raw!r}"
        )
    return key.strip(), value.strip()


def _header(raw: str) -> tuple[str, str]:
    return _pair(raw, ":", "a header")


def _env(raw: str) -> tuple[str, str]:
    return _pair(raw, "=", "an environment variable")


def _command_line(raw: str) -> list[str]:
    words = shlex.split(raw)
    if not words:
        raise argparse.ArgumentTypeError("--stdio needs a command")
    return words


class Command(DocumentedCommand):
    """Register, list, refresh or remove upstream MCP servers offered as tools."""

    help = (
        "Register, list, refresh or remove upstream MCP servers offered as tools. "
        + ABOUT
    )
    example = (
        "python manage.py mcp_upstream add search --url https://mcp.example.com/mcp "
        '--header "Authorization: Bearer $SEARCH_TOKEN"'
    )
    exit_codes = {
        0: "done",
        1: "the operation failed (e.g. the upstream could not be reached: `add` "
        "then keeps it registered, shown as down, and the servers keep retrying)",
        2: "bad arguments (unknown NAME, a name taken, a malformed --header)",
    }

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser(
            "add",
            help="Register an upstream and list its tools now.",
            epilog=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add.add_argument(
            "name", metavar="NAME", help="Unique name (letters, digits, - _)."
        )
        target = add.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--stdio",
            type=_command_line,
            metavar='"COMMAND ARGS..."',
            help="Launch this command line and speak MCP over its stdin/stdout "
            "(split like a shell does; each server process launches its own).",
        )
        target.add_argument(
            "--url", help="Connect to this MCP streamable HTTP endpoint."
        )
        add.add_argument(
            "--prefix",
            default="",
            help="Tools are named <prefix>__<tool> (default: NAME).",
        )
        add.add_argument(
            "--provider",
            default="",
            help="Provider whose max_inflight limits these tools; created with no "
            "limit of its own if missing (default: a provider named NAME).",
        )
        add.add_argument(
            "--header",
            type=_header,
            action="append",
            default=[],
            metavar='"K: V"',
            help="HTTP header sent with every request (repeatable; --url only).",
        )
        add.add_argument(
            "--env",
            type=_env,
            action="append",
            default=[],
            metavar='"K=V"',
            help="Environment variable of the command (repeatable; --stdio only).",
        )
        actions.add_parser("list", help="List upstreams with their status and tools.")
        for name, text in (
            ("refresh", "Connect to an upstream and store the tools it lists now."),
            ("remove", "Remove an upstream and its tools (its provider stays)."),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("name", metavar="NAME", help="The upstream's name.")

    def handle(self, *args: object, **options: object) -> None:
        action, self.verbosity = options["action"], int(options["verbosity"])
        try:
            if action == "add":
                self._add(options)
            elif action == "list":
                self._list()
            elif action == "refresh":
                self._refresh(str(options["name"]))
            else:
                tools = services.upstream_remove(name=str(options["name"]))
                self._say(f"removed {options['name']} and its {tools} tool(s)")
        except (UpstreamInvalidError, UpstreamNotFoundError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except UpstreamUnreachableError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except DatabaseError as exc:
            raise CommandError(f"mcp_upstream failed: database error: {exc}") from exc

    def _say(self, line: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(line)

    def _add(self, options: dict[str, object]) -> None:
        command, url = options["stdio"], options["url"] or ""
        headers, env = dict(options["header"]), dict(options["env"])
        if headers and not url:
            raise UpstreamInvalidError("--header applies to --url upstreams only")
        if env and not command:
            raise UpstreamInvalidError("--env applies to --stdio upstreams only")
        upstream = services.upstream_add(
            name=str(options["name"]),
            command=command,
            url=url,
            headers=headers,
            env=env,
            prefix=str(options["prefix"]),
            provider=str(options["provider"]),
        )
        try:
            sync = self._fetch(upstream.name)
        except UpstreamUnreachableError as exc:
            raise UpstreamUnreachableError(
                f"added {upstream.name}, but {exc}; it stays registered (down) and "
                "the servers keep retrying"
            ) from exc
        self._say(
            f"added {upstream.name} ({upstream.transport}, provider "
            f"{upstream.provider.name}): {len(sync.added)} tool(s): "
            + (", ".join(sync.added) or "none")
        )

    def _fetch(self, name: str) -> services.ToolsSync:
        return services.upstream_refresh(
            name=name, connect_timeout=get_config().MCP_UPSTREAM_CONNECT_TIMEOUT_SECS
        )

    def _refresh(self, name: str) -> None:
        sync = self._fetch(name)
        skipped = f", {len(sync.skipped)} skipped" if sync.skipped else ""
        self._say(
            f"refreshed {name}: {len(sync.added)} added, {len(sync.updated)} "
            f"updated, {len(sync.removed)} removed{skipped}"
        )

    def _list(self) -> None:
        upstreams = McpUpstream.objects.select_related("provider").order_by("name")
        for upstream in upstreams:
            secrets = masked(upstream.headers or upstream.env)
            shown = ", ".join(f"{key}={value}" for key, value in secrets.items())
            tools = sorted(upstream.tools.values_list("name", flat=True))
            error = f" ({upstream.last_error})" if upstream.status == "down" else ""
            self.stdout.write(
                f"{upstream.name}\t{upstream.transport}\t{upstream.target}"
                + (f" [{shown}]" if shown else "")
                + f"\tprovider={upstream.provider.name}"
                + f"\t{'enabled' if upstream.enabled else 'disabled'}"
                + f"\t{upstream.status}{error}\t{len(tools)} tool(s): "
                + (", ".join(tools) or "none")
            )
        self._say(f"{len(upstreams)} upstream(s)")
