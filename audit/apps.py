from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Static analysis of Python code: runs, findings, triage and reports."""

    name = "audit"
    verbose_name = "Code audit"
