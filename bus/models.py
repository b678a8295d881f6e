"""Tool registry (providers, tools) and the message_bus store with its event trail."""

from django.db import models

from controlplane.models import AgentToken


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

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(
        default=dict, blank=True, help_text="JSON Schema the arguments must match."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PYTHON)
    target = models.CharField(
        max_length=500,
        help_text="python: dotted path to a sync or async callable; "
        "http: URL to POST to.",
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="tools"
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


class Message(models.Model):
    """A large result stored as a claim check (table message_bus)."""

    class Compression(models.TextChoices):
        NONE = "none", "none"
        GZIP = "gzip", "gzip"
        ZSTD = "zstd", "zstd"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        COMPLETE = "complete", "complete"
        ERROR = "error", "error"
        EXPIRED = "expired", "expired"

    transaction_id = models.CharField(max_length=40, unique=True)
    session_id = models.CharField(max_length=64, blank=True)
    agent = models.ForeignKey(
        AgentToken,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    tool_name = models.CharField(max_length=100)
    provider_name = models.CharField(max_length=100, blank=True)
    payload = models.BinaryField()
    payload_size_bytes = models.BigIntegerField()
    compression_type = models.CharField(max_length=8, choices=Compression.choices)
    compressed_size_bytes = models.BigIntegerField()
    checksum = models.CharField(
        max_length=64, help_text="SHA-256 hex of the uncompressed bytes."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accessed_at = models.DateTimeField(null=True, blank=True)
    # purge_bus walks this index batch by batch (expires_at < now, in index order).
    expires_at = models.DateTimeField()
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "message_bus"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expires_at"], name="message_bus_expires_at_idx")
        ]

    def __str__(self) -> str:
        return self.transaction_id


class BusEvent(models.Model):
    """Append-only trail of what happened to bus messages and the breaker."""

    class Kind(models.TextChoices):
        STORED = "stored", "stored"
        FETCHED = "fetched", "fetched"
        ACKED = "acked", "acked"
        CHECKSUM_FAILED = "checksum_failed", "checksum failure"
        EXPIRED = "expired", "expired"
        PURGED = "purged", "purged"
        BREAKER_OPENED = "breaker_opened", "breaker opened"
        BREAKER_CLOSED = "breaker_closed", "breaker closed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    transaction_id = models.CharField(max_length=40, blank=True, db_index=True)
    agent_name = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.transaction_id}".strip()
