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
from audit.analysis.config_render import env_fragment, settings_snippet
from audit.constants import (
    FINDINGS_PER_PAGE,
    REPORT_PERMISSIONS,
    RUNS_PER_PAGE,
    SEVERITY_COLOURS,
)
from audit.exceptions import ReportFileError
from audit.forms import FindingFilterForm
from audit.models import AuditRun
from controlplane.charts import HORIZONTAL_LABEL_CHARS, BarChart, bar_chart

# URL suffix: (content type, file extension, selectors.run_export format).
EXPORT_FORMATS = {
    "sarif": ("application/sarif+json", "sarif", "sarif"),
    "json": ("application/json", "json", "json"),
    "md": ("text/markdown; charset=utf-8", "md", "markdown"),
}


# A file's label in the chart: as long as the chart shows without cutting it.
CHART_PATH_CHARS = HORIZONTAL_LABEL_CHARS

# URL suffix: (renderer, download name) of the suggested configuration.
CONFIG_PARTS = {
    "env": (env_fragment, "audit-run-{pk}.env"),
    "py": (settings_snippet, "audit-run-{pk}-settings.py"),
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


@report_access
def run_list(request: HttpRequest) -> HttpResponse:
    """List audit runs, newest first, with counts per severity."""
    page = Paginator(selectors.runs_with_counts(), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "audit/run_list.html", {"page": page})


def _findings_url(run: AuditRun, **filters: str) -> str:
    """Return the URL of a run's findings list narrowed by filters."""
    query = "?" + urlencode(filters) if filters else ""
    return reverse("audit:run-detail", args=[run.pk]) + query + "#findings"


@report_access
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a run: charts by severity, rule and file, changes, filtered findings.

    Every bar links to the findings list filtered to it; the list pages by
    FINDINGS_PER_PAGE and keeps its filters across pages.
    """
    run = get_object_or_404(AuditRun, pk=pk)
    summary = selectors.run_summary(run)
    form = FindingFilterForm(request.GET or None, rule_counts=summary.by_rule)
    filters = form.filters()
    page = Paginator(
        selectors.filtered_findings(run, filters), FINDINGS_PER_PAGE
    ).get_page(request.GET.get("page"))
    charts = [
        bar_chart(
            "By severity",
            summary.by_severity,
            colours=SEVERITY_COLOURS,
            links={
                level: _findings_url(run, severity=level)
                for level, _ in summary.by_severity
            },
        ),
        bar_chart(
            "By rule",
            summary.by_rule,
            links={code: _findings_url(run, code=code) for code, _ in summary.by_rule},
        ),
        _file_chart(run, summary.by_file),
    ]
    context = {
        "run": run,
        "summary": summary,
        "charts": charts,
        "changes": selectors.run_changes(run),
        "newer": selectors.newer_run(run),
        "form": form,
        "filtered": bool(filters),
        "page": page,
        "filter_query": urlencode(filters),
        "export_formats": list(EXPORT_FORMATS),
        "config_parts": list(CONFIG_PARTS),
        "triage_url": reverse("admin:audit_finding_changelist")
        + "?"
        + urlencode({"run__id__exact": run.pk, **_admin_filters(filters)}),
    }
    return render(request, "audit/run_detail.html", context)


def _file_chart(run: AuditRun, by_file: list[tuple[str, int]]) -> BarChart:
    """Chart the files with most findings, labelled by the end of their path.

    Paths of one tree share their beginning, so their ends tell them apart;
    each bar's tooltip keeps the whole path.
    """
    labels = {path: _path_tail(path) for path, _ in by_file}
    if len(set(labels.values())) < len(labels):
        labels = {path: path for path, _ in by_file}
    return bar_chart(
        "By file",
        [(labels[path], count) for path, count in by_file],
        links={labels[path]: _findings_url(run, path=path) for path, _ in by_file},
        captions={labels[path]: f"{path}: {count}" for path, count in by_file},
    )


def _path_tail(path: str) -> str:
    """Return the last CHART_PATH_CHARS characters of path, marked when cut."""
    if len(path) <= CHART_PATH_CHARS:
        return path
    return "…" + path[-(CHART_PATH_CHARS - 1) :]


def _admin_filters(filters: dict[str, str]) -> dict[str, str]:
    """Return the admin changelist's query for the same findings."""
    names = {
        "severity": "severity__exact",
        "code": "code__exact",
        "status": "status__exact",
        "path": "path__contains",
    }
    return {names[name]: value for name, value in filters.items()}


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


@report_access
def run_config(request: HttpRequest, pk: int, part: str) -> HttpResponse:
    """Download the suggested configuration of a run's hard-coded findings.

    `env` is the .env.example fragment, `py` the django-environ settings
    snippet, as `manage.py audit --emit-config` writes them.
    """
    if part not in CONFIG_PARTS:
        raise Http404(f"Unknown config template part {part!r}")
    run = get_object_or_404(AuditRun, pk=pk)
    template = selectors.run_config_template(run)
    render_part, filename = CONFIG_PARTS[part]
    response = HttpResponse(
        render_part(template), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{filename.format(pk=run.pk)}"'
    )
    return response
