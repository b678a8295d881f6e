"""Admin for upstream MCP servers: status, tools, secrets masked, refresh."""

from __future__ import annotations

import shlex
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from bus.apps import bus_app
from bus.exceptions import UpstreamError
from bus.gateway.upstreams import services
from bus.gateway.upstreams.spec import SECRET_MASK
from bus.models import McpUpstream, Tool
from controlplane.config import get_config

STATUS_COLOURS = {"up": "#2e7d32", "down": "#c62828", "unknown": "#757575"}
ERROR_CHARS = 120


def _lines(values: dict[str, str], separator: str) -> str:
    # Existing values are never sent to the browser: the mask stands for them.
    return "\n".join(f"{key}{separator} {SECRET_MASK}" for key in values)


def _parse(
    text: str, separator: str, stored: dict[str, str], what: str
) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, found, value = line.partition(separator)
        if not found or not key.strip():
            raise forms.ValidationError(
                f"Line {number}: write one {what} per line as NAME{separator} VALUE."
            )
        key, value = key.strip(), value.strip()
        if value == SECRET_MASK:
            if key not in stored:
                raise forms.ValidationError(
                    f"Line {number}: {key} has no stored value to keep; type it."
                )
            value = stored[key]
        values[key] = value
    return values


class UpstreamForm(forms.ModelForm):
    """Command line, headers and environment as text; stored secrets stay masked."""

    url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="http: the MCP endpoint URL.",
        widget=forms.URLInput(attrs={"size": 80}),
    )
    command_line = forms.CharField(
        required=False,
        help_text="stdio: the command and its arguments, split like a shell does.",
        widget=forms.TextInput(attrs={"size": 80}),
    )
    header_lines = forms.CharField(
        label="Headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=f"http: one 'Name: value' per line. {SECRET_MASK} keeps the "
        "stored value.",
    )
    env_lines = forms.CharField(
        label="Environment",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=f"stdio: one NAME=value per line. {SECRET_MASK} keeps the stored "
        "value.",
    )

    class Meta:
        model = McpUpstream
        fields = ["name", "transport", "url", "prefix", "provider", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        upstream = self.instance
        if upstream.pk:
            self.initial["command_line"] = shlex.join(
                [upstream.command, *upstream.args] if upstream.command else []
            )
            self.initial["header_lines"] = _lines(upstream.headers or {}, ":")
            self.initial["env_lines"] = _lines(upstream.env or {}, "=")

    def clean_command_line(self) -> list[str]:
        try:
            return shlex.split(self.cleaned_data.get("command_line") or "")
        except ValueError as exc:
            raise forms.ValidationError(f"Cannot split the command: {exc}") from exc

    def clean_header_lines(self) -> dict[str, str]:
        stored = self.instance.headers or {}
        return _parse(
            self.cleaned_data.get("header_lines") or "", ":", stored, "header"
        )

    def clean_env_lines(self) -> dict[str, str]:
        stored = self.instance.env or {}
        return _parse(self.cleaned_data.get("env_lines") or "", "=", stored, "variable")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        words = cleaned.get("command_line") or []
        self.instance.command = words[0] if words else ""
        self.instance.args = words[1:]
        self.instance.headers = cleaned.get("header_lines") or {}
        self.instance.env = cleaned.get("env_lines") or {}
        transport = cleaned.get("transport")
        if transport == McpUpstream.Transport.STDIO and not words:
            self.add_error("command_line", "A stdio upstream needs a command.")
        if transport == McpUpstream.Transport.HTTP and not cleaned.get("url"):
            self.add_error("url", "An http upstream needs a URL.")
        return cleaned


class UpstreamToolInline(admin.TabularInline):
    """The upstream's tools; an operator may switch one off or give it a timeout."""

    model = Tool
    fk_name = "upstream"
    fields = ["name", "target", "description", "idempotent", "enabled", "timeout_secs"]
    readonly_fields = ["name", "target", "description", "idempotent"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Tools come from the upstream's own list (refresh), never by hand here.
        return False


@admin.register(McpUpstream)
class McpUpstreamAdmin(admin.ModelAdmin):
    """Upstream MCP servers whose tools agents call as <prefix>__<tool>."""

    form = UpstreamForm
    inlines = [UpstreamToolInline]
    list_display = [
        "name",
        "transport",
        "shown_target",
        "shown_status",
        "shown_error",
        "tool_count",
        "provider",
        "enabled",
    ]
    list_filter = ["status", "transport", "enabled"]
    search_fields = ["name", "prefix", "url", "command"]
    actions = ["refresh_tools"]
    readonly_fields = [
        "status",
        "last_up_at",
        "last_down_at",
        "last_error",
        "tools_fetched_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "transport", "prefix", "provider", "enabled"]}),
        ("stdio", {"fields": ["command_line", "env_lines"]}),
        ("streamable HTTP", {"fields": ["url", "header_lines"]}),
        (
            "Status (as the servers last saw it)",
            {"fields": readonly_fields},
        ),
    ]

    @admin.display(description="command or URL")
    def shown_target(self, upstream: McpUpstream) -> str:
        return upstream.target

    @admin.display(description="status", ordering="status")
    def shown_status(self, upstream: McpUpstream) -> str:
        since = (
            upstream.last_down_at if upstream.status == "down" else upstream.last_up_at
        )
        when = f" since {since:%Y-%m-%d %H:%M:%S}" if since else ""
        return format_html(
            '<span style="color:{}; font-weight:bold">{}</span>{}',
            STATUS_COLOURS.get(upstream.status, "inherit"),
            upstream.get_status_display(),
            when,
        )

    @admin.display(description="last error")
    def shown_error(self, upstream: McpUpstream) -> str:
        if upstream.status != "down":
            return ""
        return upstream.last_error[:ERROR_CHARS]

    @admin.display(description="tools")
    def tool_count(self, upstream: McpUpstream) -> int:
        return upstream.tools.count()

    def save_model(
        self, request: HttpRequest, obj: McpUpstream, form: forms.Form, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        self._refresh(request, obj)
        bus_app().gateway.registry.invalidate()

    @admin.action(description="Refresh tools (connect and list them now)")
    def refresh_tools(self, request: HttpRequest, queryset: QuerySet) -> None:
        for upstream in queryset:
            self._refresh(request, upstream)
        bus_app().gateway.registry.invalidate()

    def _refresh(self, request: HttpRequest, upstream: McpUpstream) -> None:
        try:
            sync = services.upstream_refresh(
                name=upstream.name,
                connect_timeout=get_config().MCP_UPSTREAM_CONNECT_TIMEOUT_SECS,
            )
        except UpstreamError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"{upstream.name}: {len(sync.added)} tool(s) added, {len(sync.updated)} "
            f"updated, {len(sync.removed)} removed",
            messages.SUCCESS,
        )
