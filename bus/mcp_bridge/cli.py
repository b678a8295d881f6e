"""Command line of the stdio bridge, shared by `python -m bus.mcp_bridge` and
`manage.py mcp_bridge`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bus.mcp_bridge.server import serve
from bus.mcp_bridge.upstream import Settings

DEFAULT_CAPACITY_RETRIES = 5
DEFAULT_RECONNECT_MAX_SECS = 10.0
DEFAULT_OPEN_TIMEOUT_SECS = 10.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the bridge's options on a parser (argparse or a command's)."""
    parser.add_argument(
        "--url",
        required=True,
        help="The gateway's WebSocket URL, e.g. ws://127.0.0.1:8000/ws/.",
    )
    parser.add_argument(
        "--token-env",
        required=True,
        metavar="VAR",
        help="Name of the environment variable that holds the agent token "
        "(the token itself never goes on a command line).",
    )
    parser.add_argument(
        "--capacity-retries",
        type=int,
        default=DEFAULT_CAPACITY_RETRIES,
        help="Times an OVER_CAPACITY call is retried after its retry_after "
        f"(default {DEFAULT_CAPACITY_RETRIES}).",
    )
    parser.add_argument(
        "--reconnect-max-secs",
        type=float,
        default=DEFAULT_RECONNECT_MAX_SECS,
        help="Longest wait between reconnect attempts; the wait doubles from "
        f"0.25 s up to it (default {DEFAULT_RECONNECT_MAX_SECS:g}).",
    )
    parser.add_argument(
        "--open-timeout-secs",
        type=float,
        default=DEFAULT_OPEN_TIMEOUT_SECS,
        help="Seconds a connection attempt may take "
        f"(default {DEFAULT_OPEN_TIMEOUT_SECS:g}).",
    )


def settings_of(options: dict[str, object]) -> Settings:
    """Return the bridge's settings from parsed options; raise ValueError."""
    variable = str(options["token_env"])
    # The bridge's one input from the environment, named on its command line:
    # MCP clients pass secrets to the servers they launch as environment.
    token = (os.environ.get(variable) or "").strip()
    if not token:
        raise ValueError(f"environment variable {variable} holds no agent token")
    if int(options["capacity_retries"]) < 0:
        raise ValueError("--capacity-retries must be 0 or more")
    for key in ("reconnect_max_secs", "open_timeout_secs"):
        if not float(options[key]) > 0:
            raise ValueError(f"--{key.replace('_', '-')} must be more than 0")
    return Settings(
        url=str(options["url"]),
        token=token,
        capacity_retries=int(options["capacity_retries"]),
        reconnect_max_secs=float(options["reconnect_max_secs"]),
        open_timeout_secs=float(options["open_timeout_secs"]),
    )


def run(settings: Settings) -> None:
    """Serve MCP on stdio until the client closes it."""
    asyncio.run(serve(settings))


def main(argv: list[str] | None = None) -> int:
    """Run the bridge; return the exit code (2: bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m bus.mcp_bridge",
        description="An MCP server over stdio that calls the control plane's "
        "WebSocket gateway. Logs go to stderr; stdout is MCP's.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--log-level", default="INFO", help="Log level on stderr (default INFO)."
    )
    options = vars(parser.parse_args(argv))
    logging.basicConfig(
        stream=sys.stderr, level=options["log_level"].upper(), format=LOG_FORMAT
    )
    try:
        settings = settings_of(options)
    except ValueError as exc:
        parser.error(str(exc))
    run(settings)
    return 0
