"""The call history: one row per answered call_tool, written off the hot path."""

from django.db import models
from django.db.models import Q

from controlplane.models import AgentToken

OK = "ok"


class CallRecordQuerySet(models.QuerySet):
    """Queries of call records that share the one definition of a failed call."""

    def failed(self) -> "CallRecordQuerySet":
        """Return the calls answered with an error code."""
        return self.exclude(outcome=OK)


class CallRecord(models.Model):
    """One answered call: who, what, how it ended, how long it took, where it went.

    Rows are written in batches by ``bus.gateway.call_history.CallHistory`` and
    deleted by ``purge_calls`` after CALL_HISTORY_DAYS.
    """

    class Transport(models.TextChoices):
        WEBSOCKET = "websocket", "WebSocket"
        MCP = "mcp", "MCP"

    # Each index serves one admin filter or search, newest first; purge_calls
    # walks call_record_created_idx from the oldest row up.
    created_at = models.DateTimeField(help_text="When the answer was sent.")
    # No constraint in the database: its check, a query per inserted row, was
    # most of what recording cost (benchmarks/README.md, call records). The
    # writer links only tokens that exist, and deleting a token sets its
    # records' agent to NULL (SET_NULL, done by Django).
    agent = models.ForeignKey(
        AgentToken,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="calls",
        help_text="The call's token; empty once it is deleted.",
    )
    agent_name = models.CharField(
        max_length=100, blank=True, help_text="The token's name when the call ran."
    )
    session_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The process that answered (host:pid)."
    )
    transport = models.CharField(max_length=16, choices=Transport.choices)
    tool_name = models.CharField(
        max_length=200, help_text="The tool, or the name asked for when none matched."
    )
    provider_name = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(
        max_length=32, help_text="ok, or the error code of the answer."
    )
    error_message = models.TextField(blank=True)
    latency_ms = models.FloatField(
        help_text="Milliseconds from the call_tool frame to its answer."
    )
    result_bytes = models.BigIntegerField(help_text="Bytes of the answer sent.")
    transaction_id = models.CharField(
        max_length=40, blank=True, help_text="The bus message holding the result."
    )
    replay = models.BooleanField(
        default=False, help_text="Answered from the replay cache (a resend)."
    )
    cached = models.BooleanField(
        default=False, help_text="Answered from the cache of identical calls."
    )

    objects = CallRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="call_record_created_idx"),
            models.Index(fields=["agent", "-created_at"], name="call_record_agent_idx"),
            models.Index(
                fields=["tool_name", "-created_at"], name="call_record_tool_idx"
            ),
            # Partial: operators filter for errors, and most calls have no bus
            # message; every row left out of an index is a faster insert.
            models.Index(
                fields=["outcome", "-created_at"],
                name="call_record_outcome_idx",
                condition=~Q(outcome=OK),
            ),
            models.Index(fields=["request_id"], name="call_record_request_idx"),
            models.Index(
                fields=["transaction_id"],
                name="call_record_transaction_idx",
                condition=~Q(transaction_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.request_id} {self.outcome}"

    @property
    def succeeded(self) -> bool:
        """Return whether the call was answered with a result."""
        return self.outcome == OK
