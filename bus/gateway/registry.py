"""The tool registry held in memory, refreshed when tools or providers change.

Established sessions keep listing and calling tools while the database is down:
a failed refresh keeps the last known registry and logs it. Every process checks
a cheap version (ids, ``updated_at`` and switches of both tables) at most every
``CONFIG_REFRESH_SECS``, so admin edits in any process apply without a restart.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from jsonschema import SchemaError, validators
from jsonschema.protocols import Validator

from bus.gateway.quick_schema import Check, quick_check
from bus.models import McpUpstream, Provider, Tool
from controlplane.snapshot import RefreshingSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """A callable tool with its provider's limit and a compiled argument validator."""

    name: str
    description: str
    input_schema: dict[str, Any]
    kind: str
    target: str
    provider: str
    provider_max_inflight: int
    timeout_secs: float | None
    idempotent: bool
    validator: Validator
    function: Callable[..., Any] | None = None
    # True only for arguments the validator accepts (quick_schema); None when
    # the schema is outside what it reads.
    quick: Check | None = None
    load_error: str = ""
    upstream: str = ""
    listing: dict[str, Any] = field(init=False)
    # Whether `function` returns a coroutine (run on the loop, not in a thread):
    # asked once here rather than by inspect on every call.
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.function))
        object.__setattr__(
            self,
            "listing",
            {
                "name": self.name,
                "description": self.description,
                "inputSchema": self.input_schema,
            },
        )

    def argument_error(self, arguments: dict[str, Any]) -> str | None:
        """Return why arguments break the schema (with the path), or None if valid."""
        if self.quick is not None and self.quick(arguments):
            return None
        error = next(iter(self.validator.iter_errors(arguments)), None)
        if error is None:
            return None
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in error.absolute_path
        )
        return f"{path}: {error.message}"


@dataclass(frozen=True)
class Registry:
    """Enabled tools of enabled providers, by name, and every provider's limit."""

    tools: dict[str, ToolSpec]
    provider_limits: dict[str, int]

    def visible(self, allowed: frozenset[str]) -> list[ToolSpec]:
        """Return the tools an agent may call (an empty allow-list allows all)."""
        return [
            tool for tool in self.tools.values() if not allowed or tool.name in allowed
        ]


EMPTY = Registry(tools={}, provider_limits={})


def schema_error(schema: dict[str, Any]) -> str | None:
    """Return why a tool's input schema is not a valid JSON Schema, or None."""
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def _build_validator(name: str, schema: dict[str, Any]) -> Validator | None:
    problem = schema_error(schema)
    if problem is not None:
        logger.error(
            "Tool %s is left out: its input schema is invalid: %s", name, problem
        )
        return None
    return validators.validator_for(schema)(schema)


def _resolve(target: str) -> tuple[Callable[..., Any] | None, str]:
    try:
        return import_string(target), ""
    except ImportError as exc:
        logger.error("Cannot import tool target %s: %s", target, exc)
        return None, f"tool target {target} cannot be imported"


def _read_version() -> tuple[Any, ...]:
    # Besides updated_at (set by every save), the switches an operator may flip
    # with a bulk update, so those changes are seen too.
    tools = Tool.objects.order_by("id").values_list("id", "updated_at", "enabled")
    providers = Provider.objects.order_by("id").values_list(
        "id", "updated_at", "enabled", "max_inflight"
    )
    # An upstream switched off takes its tools with it.
    upstreams = McpUpstream.objects.order_by("id").values_list("id", "enabled")
    return (tuple(tools), tuple(providers), tuple(upstreams))


def _load(version: tuple[Any, ...]) -> Registry:
    provider_limits = dict(
        Provider.objects.filter(enabled=True).values_list("name", "max_inflight")
    )
    tools: dict[str, ToolSpec] = {}
    rows = (
        Tool.objects.filter(enabled=True, provider__enabled=True)
        .exclude(upstream__enabled=False)
        .select_related("provider", "upstream")
    )
    for row in rows:
        schema = row.input_schema or {}
        validator = _build_validator(row.name, schema)
        if validator is None:
            continue
        function, load_error = None, ""
        if row.kind == Tool.Kind.PYTHON:
            function, load_error = _resolve(row.target)
        tools[row.name] = ToolSpec(
            name=row.name,
            description=row.description,
            input_schema=schema,
            kind=row.kind,
            target=row.target,
            provider=row.provider.name,
            provider_max_inflight=row.provider.max_inflight,
            timeout_secs=row.timeout_secs,
            idempotent=row.idempotent,
            validator=validator,
            quick=quick_check(schema, type(validator)),
            function=function,
            load_error=load_error,
            upstream=row.upstream.name if row.upstream is not None else "",
        )
    logger.info("Tool registry loaded (%d tools)", len(tools))
    return Registry(tools=tools, provider_limits=provider_limits)


def _refresh_interval() -> float:
    # Not overridable, so the environment layer is the effective value.
    return settings.CONTROLPLANE_BASE_CONFIG.values["CONFIG_REFRESH_SECS"]


class ToolRegistry:
    """The registry of one process: built at start-up, refreshed when stale."""

    def __init__(self, *, interval: float | None = None) -> None:
        self._snapshot: RefreshingSnapshot[Registry] = RefreshingSnapshot(
            name="the tool registry",
            read_version=_read_version,
            load=_load,
            interval=_refresh_interval if interval is None else lambda: interval,
            fallback=lambda: EMPTY,
        )

    def get(self) -> Registry:
        """Return the registry, refreshed from the database when stale."""
        return self._snapshot.get()

    async def aget(self) -> Registry:
        """Return the registry from async code without waiting for a refresh."""
        return await self._snapshot.aget()

    def invalidate(self) -> None:
        """Make the next read in this process reload the tools as stored now."""
        self._snapshot.invalidate()
