"""The message_bus store (claim-checked results) and its append-only event trail."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from controlplane.models import AgentToken


class MessageQuerySet(models.QuerySet):
    """Queries of stored messages that share the one definition of "expired"."""

    def expired(self) -> "MessageQuerySet":
        """Return messages a fetch answers EXPIRED (past expiry, or expired by hand)."""
        return self.filter(_expired_q())

    def live(self) -> "MessageQuerySet":
        """Return messages that can still be fetched."""
        return self.exclude(_expired_q())


def _expired_q() -> Q:
    return Q(expires_at__lte=timezone.now()) | Q(status=Message.Status.EXPIRED)


class Message(models.Model):
    """A large result stored as a claim check (table message_bus)."""

    class Compression(models.TextChoices):
        NONE = "none", "none"
        GZIP = "gzip", "gzip"
        ZSTD = "zstd", "zstd"

    class Status(models.TextChoices):
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
        max_length=16, choices=Status.choices, default=Status.COMPLETE
    )
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accessed_at = models.DateTimeField(null=True, blank=True)
    # purge_bus walks this index batch by batch (expires_at < now, in index order).
    expires_at = models.DateTimeField()
    metadata = models.JSONField(
        default=dict, blank=True, help_text="The call that produced it: request_id."
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        db_table = "message_bus"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expires_at"], name="message_bus_expires_at_idx")
        ]

    def __str__(self) -> str:
        return self.transaction_id

    @property
    def is_expired(self) -> bool:
        """Return whether a fetch answers EXPIRED (whether or not purged yet)."""
        return self.status == self.Status.EXPIRED or self.expires_at <= timezone.now()


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
