"""Audit runs, their findings, and triage decisions that follow a fingerprint."""

from django.conf import settings
from django.db import models

from audit.analysis import Family, Severity
from audit.analysis.listings import scope


class SeverityChoices(models.TextChoices):
    """Finding severities, most urgent first (mirrors analysis.Severity)."""

    CRITICAL = Severity.CRITICAL.value, "critical"
    HIGH = Severity.HIGH.value, "high"
    MEDIUM = Severity.MEDIUM.value, "medium"
    LOW = Severity.LOW.value, "low"


class FamilyChoices(models.TextChoices):
    """Rule families (mirrors analysis.Family)."""

    SILENT_FAILURE = Family.SILENT_FAILURE.value, "silent failure"
    HARDCODED_CONFIG = Family.HARDCODED_CONFIG.value, "hard-coded config"


class TriageStatus(models.TextChoices):
    """Where an engineer's review of a finding stands."""

    OPEN = "open", "open"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    FIXED = "fixed", "fixed"
    FALSE_POSITIVE = "false_positive", "false positive"


class AuditRun(models.Model):
    """One scan of a target: what was scanned, how, and how it went."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"

    target = models.CharField(
        max_length=500, help_text="What was scanned; runs of one target are compared."
    )
    root = models.CharField(
        max_length=1000, help_text="Directory finding paths are relative to."
    )
    paths = models.JSONField(default=list, help_text="Paths given to the scan.")
    kinds = models.JSONField(default=list, help_text="Rule families applied.")
    options = models.JSONField(
        default=dict, help_text="Excludes, config-module globs, include-tests."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    files_scanned = models.PositiveIntegerField(default=0)
    files_failed = models.PositiveIntegerField(default=0)
    error_files = models.JSONField(
        default=list, blank=True, help_text="Files not analyzed: path, kind, message."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # "Previous run of the same target" looks up by target, newest first.
            models.Index(
                fields=["target", "-started_at"], name="audit_run_target_started_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.target}"


class Finding(models.Model):
    """One rule violation found by a run, with its triage state."""

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=16)
    family = models.CharField(max_length=32, choices=FamilyChoices.choices)
    severity = models.CharField(max_length=16, choices=SeverityChoices.choices)
    path = models.CharField(max_length=1000)
    line = models.PositiveIntegerField()
    column = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    snippet = models.TextField()
    message = models.CharField(max_length=300)
    fix_hint = models.CharField(max_length=500)
    function = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Qualified name of the enclosing function or class.",
    )
    reason = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="One line on what goes wrong at run time if this stays.",
    )
    file_sha256 = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="SHA-256 of the file as scanned; empty for runs before it.",
    )
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=TriageStatus.choices, default=TriageStatus.OPEN
    )
    triage_note = models.TextField(blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    triaged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["path", "line", "column", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "fingerprint"], name="audit_finding_run_fp_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "severity"], name="audit_finding_run_sev_idx"),
            models.Index(fields=["run", "path"], name="audit_finding_run_path_idx"),
            models.Index(fields=["fingerprint"], name="audit_finding_fp_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.path}:{self.line}"

    @property
    def scope(self) -> str:
        """Return the enclosing function worth naming: "" at module level."""
        return scope(self.function)


class TriageDecision(models.Model):
    """The latest triage of a fingerprint within a target, applied to later runs."""

    target = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    code = models.CharField(max_length=16)
    path = models.CharField(max_length=1000)
    status = models.CharField(max_length=16, choices=TriageStatus.choices)
    note = models.TextField(blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    triaged_at = models.DateTimeField()

    class Meta:
        ordering = ["-triaged_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "fingerprint"], name="audit_triage_target_fp_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.path}: {self.status}"
