"""The configuration schema: every key with its type, default and rules.

Every setting is a field of ``Config`` with its type (the annotation), default,
bounds or choices, help text, and whether an operator may override it at run time.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SECRET_KEY = "django-insecure-development-only-change-me"
MIB = 1024 * 1024


class Source:
    """Where an effective value came from."""

    DEFAULT = "default"
    ENVIRONMENT = "environment"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Spec:
    """The rules of one setting besides its type and default."""

    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    overridable: bool = False
    secret: bool = False


def setting(default: Any, help: str, **rules: Any) -> Any:
    """Declare one configuration field with its default and rules."""
    return field(default=default, metadata={"spec": Spec(help=help, **rules)})


@dataclass(frozen=True)
class Config:
    """The effective configuration: frozen, typed, one attribute per key."""

    ENVIRONMENT: str = setting(
        "development",
        "Deployment kind; production refuses DEBUG, the default SECRET_KEY and "
        "disabled agent auth.",
        choices=("development", "test", "production"),
    )
    SECRET_KEY: str = setting(
        DEFAULT_SECRET_KEY,
        "Django secret key; `make run` writes a random one into .env.",
        secret=True,
    )
    DEBUG: bool = setting(False, "Django debug mode; never in production.")
    ALLOWED_HOSTS: tuple[str, ...] = setting(
        ("127.0.0.1", "localhost"), "Host names this server answers, comma-separated."
    )
    DATABASE_URL: str = setting(
        "sqlite:///db.sqlite3",
        "Database URL; SQLite is the embedded default, Postgres for production. "
        "Connections are kept 60 s and checked before reuse unless the URL says "
        "otherwise (?conn_max_age=0 closes each after use; conn_health_checks=false).",
        secret=True,
    )
    REDIS_URL: str = setting(
        "",
        "Redis URL for the state the workers share (result caches, capacity "
        "leases, failed-hello counts, calls in flight); empty keeps it in "
        "process memory (one server process).",
        secret=True,
    )
    REDIS_TIMEOUT_SECS: float = setting(
        5.0,
        "Seconds a Redis command of the gateway (shared state of calls) may take "
        "before it fails, so that a Redis that hangs fails calls instead of "
        "stalling them.",
        minimum=0.1,
        maximum=300,
    )
    LOG_LEVEL: str = setting(
        "INFO",
        "Lowest level of log record written.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    )
    LOG_FORMAT: str = setting(
        "text",
        "Log line format: text for people, json for collectors.",
        choices=("text", "json"),
    )
    CONFIG_REFRESH_SECS: float = setting(
        2.0,
        "How often a process checks for admin overrides saved by any process.",
        minimum=0.1,
        maximum=300,
    )
    WS_AUTH_REQUIRED: bool = setting(
        True,
        "Require an agent token in hello; turning it off is refused in production.",
    )
    MESSAGE_BUS_ENABLED: bool = setting(
        True,
        "Store results above the threshold in the message bus as claim checks.",
        overridable=True,
    )
    MESSAGE_BUS_TTL_HOURS: int = setting(
        48,
        "Hours a stored result is kept before it expires.",
        minimum=1,
        maximum=8760,
        overridable=True,
    )
    MESSAGE_BUS_MAX_PAYLOAD_MB: int = setting(
        100,
        "Largest result (MiB, uncompressed) the bus accepts; larger ones get "
        "PAYLOAD_TOO_LARGE.",
        minimum=1,
        maximum=1024,
        overridable=True,
    )
    MESSAGE_BUS_THRESHOLD_BYTES: int = setting(
        1 * MIB,
        "Results larger than this (serialized bytes) go to the bus.",
        minimum=1024,
        maximum=1024 * MIB,
        overridable=True,
    )
    MESSAGE_BUS_COMPRESSION: str = setting(
        "zstd",
        "Codec for stored payloads.",
        choices=("zstd", "gzip", "none"),
        overridable=True,
    )
    MESSAGE_BUS_CHECKSUM_ENABLED: bool = setting(
        True,
        "Verify the SHA-256 of a stored payload before serving it.",
        overridable=True,
    )
    CIRCUIT_BREAKER_ENABLED: bool = setting(
        True, "Stop trying the bus after repeated store failures.", overridable=True
    )
    CIRCUIT_BREAKER_THRESHOLD: int = setting(
        5,
        "Consecutive store failures that open the breaker.",
        minimum=1,
        maximum=1000,
        overridable=True,
    )
    CIRCUIT_BREAKER_TIMEOUT_SECS: float = setting(
        60.0,
        "Seconds the breaker stays open before one half-open probe.",
        minimum=1,
        maximum=3600,
        overridable=True,
    )
    FALLBACK_TO_WEBSOCKET: bool = setting(
        True,
        "While the bus cannot store, send results inline when they fit a frame.",
        overridable=True,
    )
    WS_HELLO_TIMEOUT_SECS: float = setting(
        15.0,
        "Seconds a new connection has to send hello.",
        minimum=0.1,
        maximum=300,
        overridable=True,
    )
    WS_PROGRESS_INTERVAL_SECS: float = setting(
        8.0,
        "Seconds between progress heartbeats of a running call (fractions ok).",
        minimum=0.01,
        maximum=300,
        overridable=True,
    )
    WS_CALL_TIMEOUT_SECS: float = setting(
        180.0,
        "Timeout of a tool call when the tool has none of its own.",
        minimum=0.1,
        maximum=86400,
        overridable=True,
    )
    WS_SESSION_MAX_INFLIGHT: int = setting(
        8,
        "Calls one session may have in flight.",
        minimum=1,
        maximum=10000,
        overridable=True,
    )
    WS_GLOBAL_MAX_INFLIGHT: int = setting(
        24,
        "Calls the whole server may have in flight.",
        minimum=1,
        maximum=100000,
        overridable=True,
    )
    WS_RESULT_TTL_SECS: int = setting(
        600,
        "Seconds a result stays cached for request-id replay and semantic reuse.",
        minimum=0,
        maximum=86400,
        overridable=True,
    )
    WS_RESULT_CACHE_MAX_PER_AGENT: int = setting(
        1000,
        "Most result-cache entries one agent keeps (a result takes one for replay "
        "and one for reuse); past it that agent's oldest go first, never another's.",
        minimum=2,
        maximum=1_000_000,
        overridable=True,
    )
    WS_RESULT_CACHE_MAX_BYTES_PER_AGENT: int = setting(
        16 * MIB,
        "Most bytes of serialized answers one agent keeps cached (each entry counts "
        "its size); past it that agent's oldest go first, its newest always stays.",
        minimum=64 * 1024,
        maximum=1024 * MIB,
        overridable=True,
    )
    WS_RETRY_AFTER_SECS: float = setting(
        1.0,
        "Lower bound of the retry_after hint sent with OVER_CAPACITY.",
        minimum=0,
        maximum=3600,
        overridable=True,
    )
    WS_MAX_MESSAGE_BYTES: int = setting(
        32 * MIB,
        "Largest inbound WebSocket message; larger closes with 1009. "
        "Read at server start.",
        minimum=64 * 1024,
        maximum=1024 * MIB,
    )
    WS_COMPAT_TEXT: bool = setting(
        True,
        "Add the joined text outputs as `text` to call_tool_res.",
        overridable=True,
    )
    WS_METRICS_PATH: str = setting(
        "logs/ws_daemon.metrics.jsonl",
        "JSON-lines file, one line per answered call; relative to DATA_DIR.",
    )
    WS_HEALTH_PATH: str = setting(
        "logs/ws_daemon.health.json",
        "Health snapshot rewritten every 10 s by `manage.py serve`; relative to "
        "DATA_DIR.",
    )
    TOOL_NAME_SUFFIXES: tuple[str, ...] = setting(
        ("_EXAI-WS", "-EXAI-WS", "_EXAI_WS", "-EXAI_WS"),
        "Suffixes stripped from tool names before lookup, comma-separated.",
        overridable=True,
    )
    WS_SHUTDOWN_GRACE_SECS: float = setting(
        30.0,
        "On SIGTERM, seconds `manage.py serve` lets calls in flight finish before "
        "cancelling them.",
        minimum=0,
        maximum=3600,
        overridable=True,
    )
    DATA_DIR: str = setting(
        "./var",
        "Directory of every file the server writes at run time (PID files, health "
        "and metrics files, media); relative to the project directory. Read at "
        "start.",
    )
    METRICS_TOKEN: str = setting(
        "",
        "Bearer token /metrics requires (Authorization: Bearer …); empty leaves "
        "/metrics open to anyone who reaches the port.",
        secret=True,
    )
    WS_AUTH_FAILURES_PER_MINUTE: int = setting(
        30,
        "Failed hellos from one client address within 60 s after which every "
        "hello from it is refused with rate_limited until the count drops.",
        minimum=1,
        maximum=100000,
        overridable=True,
    )
    WS_TRUSTED_PROXIES: tuple[str, ...] = setting(
        (),
        "Proxies (IP addresses or CIDR networks, comma-separated) whose "
        "X-Forwarded-For names the client address; empty trusts none.",
    )
    WS_MAX_BUFFERED_BYTES: int = setting(
        64 * MIB,
        "Bytes of frames queued for one connection that its client has not read; "
        "more closes it with 1008. Applies to new connections.",
        minimum=1 * MIB,
        maximum=16 * 1024 * MIB,
        overridable=True,
    )
    CALL_HISTORY_ENABLED: bool = setting(
        True,
        "Keep a call record (admin: Call records) of every answered call_tool; "
        "the JSON-lines metrics file is written either way.",
        overridable=True,
    )
    CALL_HISTORY_DAYS: int = setting(
        7,
        "Days call records are kept; `manage.py purge_calls` deletes older ones.",
        minimum=1,
        maximum=3650,
        overridable=True,
    )
    CALL_HISTORY_BUFFER: int = setting(
        10000,
        "Call records a process holds while they wait to be written (also while "
        "the database is down); past it new records are dropped and counted in "
        "/metrics (controlplane_call_records_dropped_total).",
        minimum=100,
        maximum=1000000,
        overridable=True,
    )
    CALL_HISTORY_BATCH: int = setting(
        500,
        "Most call records written by one insert.",
        minimum=1,
        maximum=10000,
        overridable=True,
    )
    CALL_HISTORY_FLUSH_SECS: float = setting(
        1.0,
        "Seconds between writes of waiting call records, and between retries "
        "while the database is down.",
        minimum=0.05,
        maximum=60,
        overridable=True,
    )
    MCP_LARGE_RESULTS: str = setting(
        "inline",
        "How /mcp/ returns a result that went to the message bus: inline (the "
        "whole result, fetched and checksum-verified) or resource_link (its "
        "preview and a bus:// link that resources/read serves to its owner).",
        choices=("inline", "resource_link"),
        overridable=True,
    )
    MCP_UPSTREAM_PING_SECS: float = setting(
        5.0,
        "Seconds between pings of each upstream MCP server by each process; a "
        "failed ping marks it down and reconnects.",
        minimum=0.5,
        maximum=3600,
    )
    MCP_UPSTREAM_RETRY_MAX_SECS: float = setting(
        5.0,
        "Longest wait between reconnection attempts to an upstream MCP server that "
        "is down (the wait doubles from 0.5 s up to this).",
        minimum=0.5,
        maximum=3600,
    )
    MCP_UPSTREAM_CONNECT_TIMEOUT_SECS: float = setting(
        10.0,
        "Seconds an upstream MCP server may take to connect and complete the MCP "
        "handshake, or to answer a ping.",
        minimum=0.5,
        maximum=300,
    )


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}
TYPES: dict[str, Any] = typing.get_type_hints(Config)


def spec_of(key: str) -> Spec:
    """Return the rules of a key; raise KeyError for an unknown key."""
    return FIELDS[key].metadata["spec"]


def default_of(key: str) -> Any:
    """Return the schema default of a key."""
    return FIELDS[key].default


def overridable_keys() -> list[str]:
    """Return the keys an operator may override, in schema order."""
    return [key for key in FIELDS if spec_of(key).overridable]


def describe_rule(key: str) -> str:
    """Return the rule a value of this key must follow, in words."""
    spec, kind = spec_of(key), TYPES[key]
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    rule = names.get(kind, "a comma-separated list")
    if spec.minimum is not None and spec.maximum is not None:
        rule += f" from {format_number(spec.minimum)} to {format_number(spec.maximum)}"
    return rule


def format_number(number: float) -> str:
    """Return a number as written in .env: whole numbers without a decimal point."""
    return str(int(number)) if float(number).is_integer() else str(number)
