"""The call history: one row per answered call (admin: Call records)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bus", "0005_builtin_tools_refuse_unknown_arguments"),
        ("controlplane", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="CallRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(help_text="When the answer was sent."),
                ),
                (
                    "agent_name",
                    models.CharField(
                        blank=True,
                        help_text="The token's name when the call ran.",
                        max_length=100,
                    ),
                ),
                ("session_id", models.CharField(blank=True, max_length=64)),
                (
                    "worker",
                    models.CharField(
                        blank=True,
                        help_text="The process that answered (host:pid).",
                        max_length=200,
                    ),
                ),
                (
                    "transport",
                    models.CharField(
                        choices=[("websocket", "WebSocket"), ("mcp", "MCP")],
                        max_length=16,
                    ),
                ),
                (
                    "tool_name",
                    models.CharField(
                        help_text="The tool, or the name asked for when none matched.",
                        max_length=200,
                    ),
                ),
                ("provider_name", models.CharField(blank=True, max_length=100)),
                ("request_id", models.CharField(blank=True, max_length=200)),
                (
                    "outcome",
                    models.CharField(
                        help_text="ok, or the error code of the answer.", max_length=32
                    ),
                ),
                ("error_message", models.TextField(blank=True)),
                (
                    "latency_ms",
                    models.FloatField(
                        help_text="Milliseconds from the call_tool frame to its answer."
                    ),
                ),
                (
                    "result_bytes",
                    models.BigIntegerField(help_text="Bytes of the answer sent."),
                ),
                (
                    "transaction_id",
                    models.CharField(
                        blank=True,
                        help_text="The bus message holding the result.",
                        max_length=40,
                    ),
                ),
                (
                    "replay",
                    models.BooleanField(
                        default=False,
                        help_text="Answered from the replay cache (a resend).",
                    ),
                ),
                (
                    "cached",
                    models.BooleanField(
                        default=False,
                        help_text="Answered from the cache of identical calls.",
                    ),
                ),
                (
                    "agent",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        help_text="The call's token; empty once it is deleted.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="calls",
                        to="controlplane.agenttoken",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["created_at"], name="call_record_created_idx"),
                    models.Index(
                        fields=["agent", "-created_at"], name="call_record_agent_idx"
                    ),
                    models.Index(
                        fields=["tool_name", "-created_at"], name="call_record_tool_idx"
                    ),
                    models.Index(
                        condition=models.Q(("outcome", "ok"), _negated=True),
                        fields=["outcome", "-created_at"],
                        name="call_record_outcome_idx",
                    ),
                    models.Index(fields=["request_id"], name="call_record_request_idx"),
                    models.Index(
                        condition=models.Q(("transaction_id", ""), _negated=True),
                        fields=["transaction_id"],
                        name="call_record_transaction_idx",
                    ),
                ],
            },
        ),
    ]
