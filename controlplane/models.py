"""Configuration overrides with their history, and agent tokens."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConfigOverride(models.Model):
    """An operator's run-time value for an overridable configuration key."""

    key = models.CharField(max_length=64, unique=True)
    value = models.TextField(
        help_text="Written as in .env (true/false, numbers, a,b,c)."
    )
    reason = models.CharField(max_length=500)
    revision = models.PositiveIntegerField(
        default=1, help_text="Bumped on every save; a stale edit is refused."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "configuration override"

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ConfigChange(models.Model):
    """One change to an override: append-only history and the cross-process version."""

    class Action(models.TextChoices):
        SET = "set", "set"
        CLEAR = "clear", "cleared"
        ROLLBACK = "rollback", "rolled back"

    key = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    old_value = models.TextField(null=True, blank=True, help_text="Empty: no override.")
    new_value = models.TextField(null=True, blank=True, help_text="Empty: no override.")
    reason = models.CharField(max_length=500)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "configuration change"

    def __str__(self) -> str:
        return f"{self.key}: {self.old_value} -> {self.new_value}"


# Characters of the SHA-256 shown as a token's identifier: 32 bits tell the
# tokens of a deployment apart and say nothing about the token.
TOKEN_ID_CHARS = 8


class AgentTokenQuerySet(models.QuerySet):
    """Agent tokens filtered by status."""

    def active(self, *, now: datetime | None = None) -> AgentTokenQuerySet:
        """Return the tokens that are neither revoked nor expired now (or at now)."""
        # The rule of AgentToken.status, as SQL: keep the two side by side.
        at = timezone.now() if now is None else now
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=at)
        )

    def revoked(self) -> AgentTokenQuerySet:
        """Return the revoked tokens, whether or not they would have expired."""
        return self.filter(revoked_at__isnull=False)

    def expired(self) -> AgentTokenQuerySet:
        """Return the tokens past their expiry that were not revoked."""
        return self.filter(revoked_at__isnull=True, expires_at__lte=timezone.now())

    def with_status(self, status: str) -> AgentTokenQuerySet:
        """Return the tokens whose status (AgentToken.Status) is status now."""
        return {
            AgentToken.Status.ACTIVE: self.active,
            AgentToken.Status.REVOKED: self.revoked,
            AgentToken.Status.EXPIRED: self.expired,
        }[status]()


class AgentToken(models.Model):
    """An agent's credential; only the SHA-256 of the token is stored."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        REVOKED = "revoked", "revoked"
        EXPIRED = "expired", "expired"

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    allowed_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="Tool names this agent may list and call; empty allows every tool.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = AgentTokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def token_id(self) -> str:
        """Return the token's short identifier: the start of its SHA-256.

        Not a secret (a digest prefix of a 256-bit random token), it tells tokens
        apart in lists and matches a token in hand to its row:
        `printf %s "$TOKEN" | sha256sum | cut -c1-8`. It changes with rotation,
        as the token does.
        """
        return self.token_hash[:TOKEN_ID_CHARS]

    @property
    def status(self) -> AgentToken.Status:
        """Return whether the token is active, revoked or expired now."""
        # A revoked token stays revoked after it would have expired as well.
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.ACTIVE
