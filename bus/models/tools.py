"""The tool registry as operators edit it: providers and their tools."""

from django.db import models


class Provider(models.Model):
    """A group of tools sharing a concurrency limit (e.g. one upstream API)."""

    name = models.CharField(max_length=100, unique=True)
    max_inflight = models.PositiveIntegerField(
        default=0,
        help_text="Calls of this provider's tools in flight at once; "
        "0: no limit of its own.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tool(models.Model):
    """A callable tool as agents see it in list_tools."""

    class Kind(models.TextChoices):
        PYTHON = "python", "Python callable"
        HTTP = "http", "HTTP endpoint"
        MCP = "mcp", "Upstream MCP server tool"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(
        default=dict, blank=True, help_text="JSON Schema the arguments must match."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PYTHON)
    target = models.CharField(
        max_length=500,
        help_text="python: dotted path to a sync or async callable; "
        "http: URL to POST to; mcp: the tool's name on its upstream.",
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="tools"
    )
    upstream = models.ForeignKey(
        "bus.McpUpstream",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tools",
        help_text="mcp: the upstream MCP server that serves this tool.",
    )
    timeout_secs = models.FloatField(
        null=True, blank=True, help_text="Own timeout; empty uses WS_CALL_TIMEOUT_SECS."
    )
    idempotent = models.BooleanField(
        default=True,
        help_text="Untick for tools with side effects: never served from the semantic "
        "cache nor coalesced.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
