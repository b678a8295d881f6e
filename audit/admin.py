"""Admin: audit runs, and triage of findings with bulk status actions and a note."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.timezone import localtime

from audit import selectors
from audit.constants import RUNS_IN_FILTER
from audit.exceptions import TriageError
from audit.models import AuditRun, Finding, TriageDecision, TriageStatus
from audit.services import finding_triage


class TriageActionForm(ActionForm):
    """The admin action bar, with a note recorded by the triage actions."""

    note = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 50, "placeholder": "Triage note"}),
    )


@admin.register(AuditRun)
class AuditRunAdmin(admin.ModelAdmin):
    """Audit runs, read-only: they are created by `manage.py audit`."""

    list_display = [
        "id",
        "target",
        "status",
        "started_at",
        "files_scanned",
        "files_failed",
        "findings_count",
        "report_link",
    ]
    list_filter = ["status", "target"]
    search_fields = ["target"]
    readonly_fields = [field.name for field in AuditRun._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditRun]:
        """Return runs annotated with their finding counts."""
        return selectors.runs_with_counts()

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: rows are created by scans and triage, not by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Refuse: these rows are records, changed only by services."""
        return False

    @admin.display(description="findings", ordering="findings_count")
    def findings_count(self, run: AuditRun) -> int:
        """Return the run's number of findings."""
        return run.findings_count  # type: ignore[attr-defined]

    @admin.display(description="report")
    def report_link(self, run: AuditRun) -> str:
        """Link to the run's report page."""
        return format_html(
            '<a href="{}">report</a>', reverse("audit:run-detail", args=[run.pk])
        )


def _triage_action(status: TriageStatus) -> object:
    """Build the bulk action that marks the selected findings with status."""

    def action(
        modeladmin: FindingAdmin, request: HttpRequest, queryset: QuerySet[Finding]
    ) -> None:
        note = request.POST.get("note", "").strip()
        try:
            changed = finding_triage(
                findings=queryset, status=status, note=note, user=request.user
            )
        except TriageError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
            return
        modeladmin.message_user(
            request, f"Marked {changed} finding(s) as {status.label}."
        )

    action.__name__ = f"mark_{status.value}"
    return admin.action(description=f"Mark selected findings {status.label}")(action)


class RunFilter(admin.SimpleListFilter):
    """Which runs' findings to list: by default the latest run of each target.

    Older runs repeat the same findings (one row per run), so triage starts
    from the latest run of each target; a decision still applies to every
    later run through its fingerprint.
    """

    title = "run"
    parameter_name = "run__id__exact"
    LATEST = "latest"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: object) -> list:
        """Offer latest-per-target, all runs, then each recent run."""
        recent = AuditRun.objects.order_by("-started_at", "-id")[:RUNS_IN_FILTER]
        return [
            (self.LATEST, "Latest run of each target"),
            (self.ALL, "All runs"),
            *[(str(run.pk), str(run)) for run in recent],
        ]

    def choices(self, changelist: object):
        """Show latest-per-target as selected when no run is chosen."""
        for choice in super().choices(changelist):
            if choice["display"] == "All":
                continue
            if self.value() is None and choice["display"] == self.lookup_choices[0][1]:
                choice["selected"] = True
            yield choice

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Finding]
    ) -> QuerySet[Finding]:
        """Narrow findings to the chosen runs."""
        value = self.value()
        if value == self.ALL:
            return queryset
        if value in (None, self.LATEST):
            return queryset.filter(run__in=selectors.latest_runs())
        if not value.isdigit():
            raise IncorrectLookupParameters(f"Unknown run {value!r}")
        return queryset.filter(run_id=int(value))


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    """Findings of all runs: filter, search, and triage in bulk with a note."""

    action_form = TriageActionForm
    actions = [_triage_action(status) for status in TriageStatus]
    # Few, narrow columns so the list fits 1400 px beside the admin's sidebar.
    list_display = ["rule", "location", "message", "triage", "run_link"]
    list_filter = [RunFilter, "severity", "family", "code", "status"]
    list_select_related = ["run", "triaged_by"]
    search_fields = ["path", "code", "message", "snippet", "fingerprint", "function"]
    readonly_fields = [
        field.name
        for field in Finding._meta.fields
        if field.name not in {"status", "triage_note"}
    ]
    fields = [
        "run",
        "code",
        "family",
        "severity",
        "path",
        "line",
        "column",
        "end_line",
        "function",
        "snippet",
        "message",
        "reason",
        "fix_hint",
        "fingerprint",
        "file_sha256",
        "status",
        "triage_note",
        "triaged_by",
        "triaged_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: rows are created by scans and triage, not by hand."""
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Also allow the run page's path filter, which has no sidebar entry."""
        return lookup == "path__contains" or super().lookup_allowed(
            lookup, value, request
        )

    @admin.display(description="rule", ordering="code")
    def rule(self, finding: Finding) -> str:
        """Show the rule code with the severity under it."""
        return format_html(
            "{}<br><small>{}</small>", finding.code, finding.get_severity_display()
        )

    @admin.display(description="triage", ordering="status")
    def triage(self, finding: Finding) -> str:
        """Show the status, and who triaged it and when."""
        if finding.triaged_at is None:
            return finding.get_status_display()
        when = localtime(finding.triaged_at)
        return format_html(
            "{}<br><small>{} {} {}</small>",
            finding.get_status_display(),
            finding.triaged_by or "",
            date_format(when, "SHORT_DATETIME_FORMAT"),
            when.strftime("%Z"),
        )

    @admin.display(description="location", ordering="path")
    def location(self, finding: Finding) -> str:
        """Link path:line to the finding in the file view; name its function."""
        url = reverse("audit:run-file", args=[finding.run_id])
        link = format_html(
            '<a href="{}?{}#finding-{}">{}:{}</a>',
            url,
            urlencode({"path": finding.path}),
            finding.pk,
            finding.path,
            finding.line,
        )
        if not finding.scope:
            return link
        return format_html("{}<br><small>in {}</small>", link, finding.scope)

    @admin.display(description="run", ordering="run")
    def run_link(self, finding: Finding) -> str:
        """Link to the run's report page."""
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("audit:run-detail", args=[finding.run_id]),
            finding.run_id,
        )

    def save_model(
        self, request: HttpRequest, obj: Finding, form: forms.Form, change: bool
    ) -> None:
        """Save status and note edits as a triage."""
        # Editing status or note in the form is a triage: go through the service.
        finding_triage(
            findings=Finding.objects.filter(pk=obj.pk),
            status=form.cleaned_data["status"],
            note=form.cleaned_data["triage_note"],
            user=request.user,
        )


@admin.register(TriageDecision)
class TriageDecisionAdmin(admin.ModelAdmin):
    """Triage remembered per target and fingerprint; later runs start from it."""

    list_display = ["code", "path", "status", "note", "triaged_by", "triaged_at"]
    list_filter = ["status", "code", "target"]
    search_fields = ["path", "fingerprint", "note"]
    readonly_fields = [field.name for field in TriageDecision._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: rows are created by scans and triage, not by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Refuse: these rows are records, changed only by services."""
        return False
