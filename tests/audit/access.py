"""Who may read audit reports, and every audit URL to try them on."""

from __future__ import annotations

import itertools

from django.contrib.auth.models import AbstractBaseUser, Permission
from django.urls import URLPattern, reverse
from django.utils.http import urlencode

from audit import urls as audit_urls
from audit.models import AuditRun
from audit.views import CONFIG_PARTS, EXPORT_FORMATS

PASSWORD = "audit-pass-123"  # audit: ignore[AUD105] a test user's password
# Expected status per kind of visitor: 302 is the redirect to the admin login.
EXPECTED_STATUS = {
    "anonymous": 302,
    "non_staff_with_permissions": 403,
    "staff_without_permissions": 403,
    "staff_with_run_permission_only": 403,
    "report_reader": 200,
}


def _path_values(run: AuditRun) -> dict[str, list[object]]:
    """Return the values tried for each URL argument: every export format."""
    return {"pk": [run.pk], "fmt": list(EXPORT_FORMATS), "part": list(CONFIG_PARTS)}


def _query(pattern: URLPattern, run: AuditRun) -> dict[str, str]:
    """Return the query a pattern needs to answer 200 for a permitted user."""
    if pattern.name == "run-file":
        return {"path": run.findings.values_list("path", flat=True).first()}
    return {}


def audit_urls_of(run: AuditRun) -> list[str]:
    """Return every URL of audit/urls.py for run, each export format included.

    Built from urlpatterns, so a new pattern is tested without editing the tests;
    a pattern with an argument this table does not know fails with KeyError.
    """
    values = _path_values(run)
    found = []
    for pattern in audit_urls.urlpatterns:
        names = list(pattern.pattern.converters)
        for combination in itertools.product(*(values[name] for name in names)):
            url = reverse(
                f"{audit_urls.app_name}:{pattern.name}",
                kwargs=dict(zip(names, combination, strict=True)),
            )
            query = _query(pattern, run)
            found.append(f"{url}?{urlencode(query)}" if query else url)
    return found


def audit_visitors(django_user_model: type) -> dict[str, AbstractBaseUser | None]:
    """Create one user per kind of visitor (None is anonymous)."""
    reports = Permission.objects.filter(
        content_type__app_label="audit",
        codename__in=["view_auditrun", "view_finding"],
    )
    run_only = reports.filter(codename="view_auditrun")

    def user(name: str, *, staff: bool, permissions: object) -> AbstractBaseUser:
        created = django_user_model.objects.create_user(
            username=name, password=PASSWORD, is_staff=staff
        )
        created.user_permissions.set(permissions)
        return created

    return {
        "anonymous": None,
        "non_staff_with_permissions": user("viewer", staff=False, permissions=reports),
        "staff_without_permissions": user("clerk", staff=True, permissions=[]),
        "staff_with_run_permission_only": user(
            "runs-only", staff=True, permissions=run_only
        ),
        "report_reader": user("auditor", staff=True, permissions=reports),
    }
