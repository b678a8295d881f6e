"""The typed configuration schema, its loader, and the one accessor code reads it by.

Every setting is a field of ``Config`` with its type (the annotation), default,
bounds or choices, help text, and whether an operator may override it at run time.
Values are layered: schema default < environment < admin override (overridable
keys only). ``settings.py`` parses the environment once at start and fails fast;
``get_config()`` layers the overrides on top and refreshes them when any process
changes one (the newest ``ConfigChange`` id is the cross-process version).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async

from controlplane.exceptions import ConfigError

logger = logging.getLogger(__name__)

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
        "Database URL; SQLite is the embedded default, Postgres for production.",
        secret=True,
    )
    REDIS_URL: str = setting(
        "",
        "Redis URL for the shared cache and channel layer across workers; empty "
        "keeps both in process memory (one server process).",
        secret=True,
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
        "logs/ws_daemon.metrics.jsonl", "JSON-lines file, one line per answered call."
    )
    WS_HEALTH_PATH: str = setting(
        "logs/ws_daemon.health.json",
        "Health snapshot rewritten every 10 s by `manage.py serve`.",
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


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}
_TYPES: dict[str, Any] = typing.get_type_hints(Config)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


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
    spec, kind = spec_of(key), _TYPES[key]
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    rule = names.get(kind, "a comma-separated list")
    if spec.minimum is not None and spec.maximum is not None:
        rule += f" from {_plain(spec.minimum)} to {_plain(spec.maximum)}"
    return rule


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def parse_value(key: str, raw: str) -> Any:
    """Parse a raw string for a key; raise ValueError naming the rule it breaks."""
    kind, spec = _TYPES[key], spec_of(key)
    text = raw.strip()
    rule = describe_rule(key)
    value: Any
    if kind is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise ValueError(f"must be {rule}")
        value = text.lower() in _TRUE
    elif kind is int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be {rule}") from None
    elif kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be {rule}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"must be {rule}")
    elif kind is str:
        value = text
    else:
        value = tuple(part.strip() for part in text.split(",") if part.strip())
    if spec.choices and value not in spec.choices:
        raise ValueError(f"must be {rule}")
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"must be {rule}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"must be {rule}")
    return value


def render_value(key: str, value: Any, *, reveal: bool = False) -> str:
    """Render a value as it would be written in .env, masking secrets."""
    if spec_of(key).secret and not reveal and value:
        return mask_secret(key, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return _plain(value)
    return str(value)


def mask_secret(key: str, value: str) -> str:
    """Hide a secret; URLs keep scheme and host so operators can tell them apart."""
    if "://" in value:
        scheme, rest = value.split("://", 1)
        host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
        return f"{scheme}://***@{host}/***" if "@" in rest else f"{scheme}://{host}/***"
    return "********"


@dataclass(frozen=True)
class BaseConfig:
    """Environment layer parsed at start: values plus which keys the environment set."""

    values: Mapping[str, Any]
    from_environment: frozenset[str]


def parse_environment(environ: Mapping[str, str]) -> BaseConfig:
    """Parse every key from the environment; raise ConfigError listing each problem."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    problems: list[str] = []
    for key in FIELDS:
        if key not in environ:
            values[key] = default_of(key)
            continue
        seen.add(key)
        try:
            values[key] = parse_value(key, environ[key])
        except ValueError as exc:
            shown = "***" if spec_of(key).secret else environ[key]
            problems.append(f"{key}={shown!r}: {exc}")
            values[key] = default_of(key)
    if values["ENVIRONMENT"] == "production":
        if values["DEBUG"]:
            problems.append("DEBUG='true': must be false when ENVIRONMENT=production")
        if values["SECRET_KEY"] == DEFAULT_SECRET_KEY or len(values["SECRET_KEY"]) < 32:
            problems.append(
                "SECRET_KEY: must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        if not values["WS_AUTH_REQUIRED"]:
            problems.append(
                "WS_AUTH_REQUIRED='false': agent auth cannot be turned off when "
                "ENVIRONMENT=production"
            )
    if problems:
        raise ConfigError(problems)
    return BaseConfig(values=values, from_environment=frozenset(seen))


@dataclass(frozen=True)
class EffectiveValue:
    """One key as the admin and check_config show it."""

    key: str
    value: Any
    source: str
    spec: Spec
    rule: str
    default: Any

    @property
    def shown(self) -> str:
        """Return the value rendered with secrets masked."""
        return render_value(self.key, self.value)

    @property
    def default_shown(self) -> str:
        """Return the default rendered with secrets masked."""
        return render_value(self.key, self.default)


@dataclass
class _Snapshot:
    config: Config
    sources: dict[str, str]
    version: int | None
    checked_at: float


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def _base() -> BaseConfig:
    from django.conf import settings

    return settings.CONTROLPLANE_BASE_CONFIG


def _read_overrides() -> tuple[int, dict[str, str]]:
    from django.db.models import Max

    from controlplane.models import ConfigChange, ConfigOverride

    version = ConfigChange.objects.aggregate(newest=Max("id"))["newest"] or 0
    rows = dict(ConfigOverride.objects.values_list("key", "value"))
    return version, rows


def _read_version() -> int:
    from django.db.models import Max

    from controlplane.models import ConfigChange

    return ConfigChange.objects.aggregate(newest=Max("id"))["newest"] or 0


def _layer(base: BaseConfig, overrides: Mapping[str, str]) -> _Snapshot:
    values = dict(base.values)
    sources = {
        key: Source.ENVIRONMENT if key in base.from_environment else Source.DEFAULT
        for key in FIELDS
    }
    for key, raw in overrides.items():
        if key not in FIELDS or not spec_of(key).overridable:
            logger.warning("Ignoring override of %s: not an overridable key", key)
            continue
        try:
            values[key] = parse_value(key, raw)
        except ValueError as exc:
            logger.warning("Ignoring invalid override of %s: %s", key, exc)
            continue
        sources[key] = Source.OVERRIDE
    return _Snapshot(Config(**values), sources, None, 0.0)


def _refresh(now: float) -> _Snapshot:
    global _snapshot
    from django.db import DatabaseError

    base = _base()
    current = _snapshot
    try:
        if current is not None and current.version is not None:
            if _read_version() == current.version:
                current.checked_at = now
                return current
        version, overrides = _read_overrides()
    except DatabaseError:
        # The call path must survive a database outage: keep the last known
        # values (or the environment's) and try again after the refresh interval.
        logger.warning(
            "Cannot read config overrides; keeping last known values", exc_info=True
        )
        fallback = current or _layer(base, {})
        fallback.checked_at = now
        _snapshot = fallback
        return fallback
    fresh = _layer(base, overrides)
    fresh.version, fresh.checked_at = version, now
    if current is not None and current.version != version:
        logger.info("Configuration overrides changed (version %s)", version)
    _snapshot = fresh
    return fresh


def _current(*, force: bool = False) -> _Snapshot:
    now = time.monotonic()
    snapshot = _snapshot
    interval = _base().values["CONFIG_REFRESH_SECS"]
    if not force and snapshot is not None and now - snapshot.checked_at < interval:
        return snapshot
    with _lock:
        return _refresh(now)


def get_config() -> Config:
    """Return the effective configuration, refreshed from overrides when stale."""
    return _current().config


_background_refresh: asyncio.Future | None = None


def _log_refresh_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("Refreshing configuration failed", exc_info=future.exception())


async def aget_config() -> Config:
    """Return the effective configuration from async code without blocking the loop.

    When the snapshot is stale, one background refresh is started and the last
    snapshot is served meanwhile, so concurrent calls never queue behind the
    database at each refresh interval.
    """
    global _background_refresh
    snapshot = _snapshot
    if snapshot is None:
        return await sync_to_async(get_config)()
    interval = _base().values["CONFIG_REFRESH_SECS"]
    if time.monotonic() - snapshot.checked_at >= interval and (
        _background_refresh is None or _background_refresh.done()
    ):
        _background_refresh = asyncio.ensure_future(sync_to_async(get_config)())
        _background_refresh.add_done_callback(_log_refresh_failure)
    return snapshot.config


def invalidate() -> None:
    """Make the next read in this process see the overrides as stored now."""
    global _snapshot
    with _lock:
        _snapshot = None


def effective_values() -> list[EffectiveValue]:
    """Return every key with its effective value and source, in schema order."""
    snapshot = _current(force=True)
    return [
        EffectiveValue(
            key=key,
            value=getattr(snapshot.config, key),
            source=snapshot.sources[key],
            spec=spec_of(key),
            rule=describe_rule(key),
            default=default_of(key),
        )
        for key in FIELDS
    ]
