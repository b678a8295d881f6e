"""Upstream MCP servers whose tools the gateway offers as tools of kind `mcp`."""

from django.core.validators import RegexValidator
from django.db import models

from bus.models.tools import Provider

# Letters, digits, '-' and '_': the prefix becomes part of tool names, and every
# LLM API accepts these characters in a function name.
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
name_validator = RegexValidator(
    NAME_PATTERN, "Use letters, digits, '-' and '_' only (it becomes part of names)."
)


class McpUpstream(models.Model):
    """An MCP server (stdio command or streamable HTTP URL) registered by an operator.

    Its tools are stored as Tool rows of kind mcp named `<prefix>__<tool>`; the
    status fields record what the gateway last saw of it.
    """

    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio (a command the gateway launches)"
        HTTP = "http", "streamable HTTP (a URL)"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "not tried yet"
        UP = "up", "up"
        DOWN = "down", "down"

    name = models.CharField(max_length=64, unique=True, validators=[name_validator])
    transport = models.CharField(max_length=8, choices=Transport.choices)
    command = models.CharField(
        max_length=1000, blank=True, help_text="stdio: the executable to launch."
    )
    args = models.JSONField(
        default=list, blank=True, help_text="stdio: the command's arguments (a list)."
    )
    env = models.JSONField(
        default=dict,
        blank=True,
        help_text="stdio: extra environment variables (secret: masked when shown).",
    )
    url = models.URLField(
        max_length=1000, blank=True, help_text="http: the MCP endpoint URL."
    )
    headers = models.JSONField(
        default=dict,
        blank=True,
        help_text="http: request headers, e.g. Authorization (secret: masked when "
        "shown).",
    )
    prefix = models.CharField(
        max_length=64,
        validators=[name_validator],
        help_text="Its tools are listed as <prefix>__<tool>.",
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="upstreams"
    )
    enabled = models.BooleanField(default=True)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.UNKNOWN
    )
    last_up_at = models.DateTimeField(null=True, blank=True)
    last_down_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    tools_fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "upstream MCP server"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(transport="stdio") & ~models.Q(command=""))
                | (models.Q(transport="http") & ~models.Q(url="")),
                name="mcp_upstream_target_fits_transport",
            ),
            models.UniqueConstraint(
                fields=["prefix"], name="mcp_upstream_prefix_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        """Return the command line or the URL, as an operator reads it."""
        if self.transport == self.Transport.STDIO:
            return " ".join([self.command, *self.args])
        return self.url
