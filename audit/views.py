"""Audit report pages: runs list, a run's summary, file view, exports."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode

from audit import selectors
from audit.constants import (
    FINDINGS_SHOWN,
    REPORT_PERMISSIONS,
    RUNS_PER_PAGE,
    SEVERITY_COLOURS,
)
from audit.exceptions import ReportFileError
from audit.models import AuditRun
from controlplane.charts import bar_chart

# URL suffix: (content type, file extension, selectors.run_export format).
EXPORT_FORMATS = {
    "sarif": ("application/sarif+json", "sarif", "sarif"),
    "json": ("application/json", "json", "json"),
    "md": ("text/markdown; charset=utf-8", "md", "markdown"),
}


View = Callable[..., HttpResponse]


def report_access(view: View) -> View:
    """Let staff with REPORT_PERMISSIONS in; others get 403, anonymous the login."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        user = request.user
        if not (user.is_staff and user.has_perms(REPORT_PERMISSIONS)):
            raise PermissionDenied(
                "Audit reports need staff with the audit view rights"
            )
        return view(request, *args, **kwargs)

    return login_required(guarded)


def _file_url(run: AuditRun, path: str) -> str:
    """Return the URL of a file view."""
    return reverse("audit:run-file", args=[run.pk]) + "?" + urlencode({"path": path})


@report_access
def run_list(request: HttpRequest) -> HttpResponse:
    """List audit runs, newest first, with counts per severity."""
    page = Paginator(selectors.runs_with_counts(), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "audit/run_list.html", {"page": page})


@report_access
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a run: charts by severity, rule and file, changes, findings."""
    run = get_object_or_404(AuditRun, pk=pk)
    summary = selectors.run_summary(run)
    findings = selectors.run_findings(run)
    charts = [
        bar_chart("By severity", summary.by_severity, colours=SEVERITY_COLOURS),
        bar_chart("By rule", summary.by_rule),
        bar_chart(
            "By file",
            summary.by_file,
            links={path: _file_url(run, path) for path, _ in summary.by_file},
        ),
    ]
    context = {
        "run": run,
        "summary": summary,
        "charts": charts,
        "changes": selectors.run_changes(run),
        "findings": findings[:FINDINGS_SHOWN],
        "findings_hidden": max(summary.total - FINDINGS_SHOWN, 0),
        "export_formats": list(EXPORT_FORMATS),
    }
    return render(request, "audit/run_detail.html", context)


@report_access
def run_file(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one file of a run with each finding anchored in its code context."""
    run = get_object_or_404(AuditRun, pk=pk)
    try:
        view = selectors.file_view(run, request.GET.get("path", ""))
    except ReportFileError as exc:
        raise Http404(str(exc)) from exc
    return render(request, "audit/file_view.html", {"run": run, "view": view})


@report_access
def run_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """Download a run as SARIF 2.1.0, JSON or Markdown."""
    if fmt not in EXPORT_FORMATS:
        raise Http404(f"Unknown export format {fmt!r}")
    run = get_object_or_404(AuditRun, pk=pk)
    content_type, extension, format_name = EXPORT_FORMATS[fmt]
    body = selectors.run_export(run, format_name)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="audit-run-{run.pk}.{extension}"'
    )
    return response
