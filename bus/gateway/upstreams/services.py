"""Store upstream MCP servers, their tools (Tool rows of kind mcp) and their status.

Every process that holds a session to an upstream may write its tools and its
status: the writes lock the upstream's row and change only what differs, so
several workers seeing the same thing write it once and never race on a name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bus.exceptions import (
    UpstreamInvalidError,
    UpstreamNotFoundError,
    UpstreamUnreachableError,
)
from bus.gateway.upstreams.client import describe, fetch_tool_defs
from bus.gateway.upstreams.spec import ToolDef, UpstreamSpec, tool_name
from bus.models import McpUpstream, Provider, Tool

logger = logging.getLogger(__name__)

TOOL_NAME_MAX = Tool._meta.get_field("name").max_length


@dataclass(frozen=True)
class ToolsSync:
    """What storing an upstream's tool list changed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Return True when a Tool row was written or deleted."""
        return bool(self.added or self.updated or self.removed)


def upstream_add(
    *,
    name: str,
    command: list[str] | None = None,
    url: str = "",
    headers: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    prefix: str = "",
    provider: str = "",
) -> McpUpstream:
    """Register an upstream (a command line or a URL); raise UpstreamInvalidError."""
    if bool(command) == bool(url):
        raise UpstreamInvalidError("give either a stdio command or a URL, not both")
    if McpUpstream.objects.filter(name=name).exists():
        raise UpstreamInvalidError(f"an upstream named {name!r} already exists")
    with transaction.atomic():
        provider_row, _ = Provider.objects.get_or_create(name=provider or name)
        upstream = McpUpstream(
            name=name,
            transport=McpUpstream.Transport.STDIO
            if command
            else McpUpstream.Transport.HTTP,
            command=command[0] if command else "",
            args=list(command[1:]) if command else [],
            url=url,
            headers=headers or {},
            env=env or {},
            prefix=prefix or name,
            provider=provider_row,
        )
        try:
            upstream.full_clean()
        except ValidationError as exc:
            raise UpstreamInvalidError(_validation_text(exc)) from exc
        upstream.save()
    logger.info("Upstream MCP server %s added (%s)", name, upstream.transport)
    return upstream


def _validation_text(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(message for message in messages)}"
            for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


def upstream_get(*, name: str) -> McpUpstream:
    """Return the upstream of that name; raise UpstreamNotFoundError."""
    try:
        return McpUpstream.objects.select_related("provider").get(name=name)
    except McpUpstream.DoesNotExist:
        raise UpstreamNotFoundError(f"no upstream MCP server named {name!r}") from None


def upstream_remove(*, name: str) -> int:
    """Delete the upstream and its tools; return how many tools went with it."""
    upstream = upstream_get(name=name)
    tools = upstream.tools.count()
    upstream.delete()
    logger.info("Upstream MCP server %s removed with %d tools", name, tools)
    return tools


def upstream_refresh(*, name: str, connect_timeout: float) -> ToolsSync:
    """Connect to the upstream, list its tools and store them.

    Raises UpstreamNotFoundError, or UpstreamUnreachableError (also recorded as
    the upstream's status) when it cannot be reached.
    """
    upstream = upstream_get(name=name)
    spec = UpstreamSpec.of(upstream)
    try:
        tools = async_to_sync(fetch_tool_defs)(spec, connect_timeout=connect_timeout)
    except Exception as exc:  # noqa: BLE001  (whatever the transport raised, the
        # operator gets its one-line account; the traceback goes to the log)
        reason = describe(exc)
        logger.warning("Cannot list the tools of upstream %s: %s", name, reason)
        upstream_status_record(upstream_id=upstream.pk, up=False, error=reason)
        raise UpstreamUnreachableError(
            f"cannot list the tools of {name}: {reason}"
        ) from exc
    upstream_status_record(upstream_id=upstream.pk, up=True)
    return upstream_tools_store(upstream_id=upstream.pk, tools=tools)


def upstream_tools_store(*, upstream_id: int, tools: list[ToolDef]) -> ToolsSync:
    """Make the upstream's Tool rows match the tools it lists now.

    New tools are added, changed ones updated (name, description, schema,
    idempotence from the annotations), gone ones deleted; an operator's own
    switches (enabled, timeout) are kept. A name another tool already has is
    skipped and logged.
    """
    with transaction.atomic():
        upstream = (
            (McpUpstream.objects.select_for_update().select_related("provider"))
            .filter(pk=upstream_id)
            .first()
        )
        if upstream is None:
            # Removed meanwhile (another process, the operator): nothing to store.
            return ToolsSync()
        existing = {row.target: row for row in upstream.tools.all()}
        taken = set(
            Tool.objects.filter(~Q(upstream=upstream)).values_list("name", flat=True)
        )
        added, updated, skipped = [], [], []
        for tool in tools:
            name = tool_name(upstream.prefix, tool.remote_name)
            if name in taken or len(name) > TOOL_NAME_MAX:
                logger.warning(
                    "Upstream %s: tool %s is left out: its name is taken or longer "
                    "than %d characters",
                    upstream.name,
                    name[:TOOL_NAME_MAX],
                    TOOL_NAME_MAX,
                )
                skipped.append(name)
                continue
            row = existing.pop(tool.remote_name, None)
            fields = {
                "name": name,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "idempotent": tool.idempotent,
                "provider_id": upstream.provider_id,
            }
            if row is None:
                Tool.objects.create(
                    kind=Tool.Kind.MCP,
                    target=tool.remote_name,
                    upstream=upstream,
                    **fields,
                )
                added.append(name)
            elif any(getattr(row, key) != value for key, value in fields.items()):
                for key, value in fields.items():
                    setattr(row, key, value)
                row.save()
                updated.append(name)
        removed = [row.name for row in existing.values()]
        Tool.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()
        McpUpstream.objects.filter(pk=upstream_id).update(
            tools_fetched_at=timezone.now()
        )
    result = ToolsSync(tuple(added), tuple(updated), tuple(removed), tuple(skipped))
    if result.changed:
        logger.info(
            "Upstream %s tools: %d added, %d updated, %d removed",
            upstream.name,
            len(added),
            len(updated),
            len(removed),
        )
    return result


def upstream_status_record(*, upstream_id: int, up: bool, error: str = "") -> None:
    """Record that the upstream is up, or down with why (and since when)."""
    now = timezone.now()
    rows = McpUpstream.objects.filter(pk=upstream_id)
    if up:
        # Only a change is written, so "up since" stays the first moment seen.
        rows.exclude(status=McpUpstream.Status.UP).update(
            status=McpUpstream.Status.UP, last_up_at=now
        )
        return
    rows.exclude(status=McpUpstream.Status.DOWN).update(
        status=McpUpstream.Status.DOWN, last_down_at=now, last_error=error
    )
    rows.filter(status=McpUpstream.Status.DOWN).exclude(last_error=error).update(
        last_error=error
    )
