"""Admin triage: list and filters, search, bulk actions with a note, escaping."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from audit.models import AuditRun, TriageDecision

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:audit_finding_changelist"


def test_finding_admin__list_filters_and_search(
    admin_client_logged_in: Client, audit_run: AuditRun, empty_run: AuditRun
) -> None:
    url = reverse(CHANGELIST)
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    filters = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert {"severity", "family", "code", "status", "run"} <= filters
    critical = admin_client_logged_in.get(url, {"severity__exact": "critical"})
    assert critical.context["cl"].result_count == 1
    by_rule = admin_client_logged_in.get(url, {"code__exact": "AUD102"})
    assert by_rule.context["cl"].result_count == 1
    searched = admin_client_logged_in.get(url, {"q": "client.py"})
    assert searched.context["cl"].result_count == 4
    by_run = admin_client_logged_in.get(url, {"run__id__exact": audit_run.pk})
    assert by_run.context["cl"].result_count == 4


def test_finding_admin__defaults_to_the_latest_run_of_each_target(
    admin_client_logged_in: Client, rescan, empty_run: AuditRun
) -> None:
    """Triage starts from the latest run: older runs would repeat every finding."""
    first = rescan()
    latest = rescan()
    rescan(target="other")
    url = reverse(CHANGELIST)
    default = admin_client_logged_in.get(url)
    shown = {finding.run_id for finding in default.context["cl"].result_list}
    assert first.pk not in shown and latest.pk in shown
    assert default.context["cl"].result_count == 8
    assert "Latest run of each target" in default.text
    everything = admin_client_logged_in.get(url, {"run__id__exact": "all"})
    assert everything.context["cl"].result_count == 12
    older = admin_client_logged_in.get(url, {"run__id__exact": first.pk})
    assert {f.run_id for f in older.context["cl"].result_list} == {first.pk}
    bad = admin_client_logged_in.get(url, {"run__id__exact": "x"})
    assert bad.status_code == 302  # the admin's answer to a bad lookup: ?e=1


def test_finding_admin__bulk_action_with_note(
    admin_client_logged_in: Client, audit_run: AuditRun, staff_user: User
) -> None:
    selected = list(
        audit_run.findings.filter(family="hardcoded_config").values_list(
            "pk", flat=True
        )
    )
    response = admin_client_logged_in.post(
        reverse(CHANGELIST),
        {
            "action": "mark_false_positive",
            "_selected_action": selected,
            "note": "sample values",
        },
        follow=True,
    )
    assert "Marked 3 finding(s) as false positive." in response.content.decode()
    for finding in audit_run.findings.filter(pk__in=selected):
        assert finding.status == "false_positive"
        assert finding.triage_note == "sample values"
        assert finding.triaged_by == staff_user
    assert audit_run.findings.get(code="AUD002").status == "open"
    assert TriageDecision.objects.filter(status="false_positive").count() == 3


def test_finding_admin__change_page_triages_through_service(
    admin_client_logged_in: Client, audit_run: AuditRun, staff_user: User
) -> None:
    finding = audit_run.findings.get(code="AUD002")
    url = reverse("admin:audit_finding_change", args=[finding.pk])
    page = admin_client_logged_in.get(url)
    assert page.status_code == 200
    admin_client_logged_in.post(
        url, {"status": "acknowledged", "triage_note": "ticket 12"}
    )
    finding.refresh_from_db()
    assert (finding.status, finding.triage_note) == ("acknowledged", "ticket 12")
    assert finding.triaged_by == staff_user
    assert TriageDecision.objects.get().status == "acknowledged"


def test_finding_admin__escapes_snippet_and_path(
    admin_client_logged_in: Client, audit_run: AuditRun
) -> None:
    finding = audit_run.findings.get(code="AUD102")
    finding.snippet = "<script>alert(1)</script>"
    finding.path = "<b>evil</b>.py"
    finding.save()
    body = admin_client_logged_in.get(reverse(CHANGELIST)).content.decode()
    assert "<b>evil</b>" not in body
    assert "&lt;b&gt;evil&lt;/b&gt;.py" in body
    change = admin_client_logged_in.get(
        reverse("admin:audit_finding_change", args=[finding.pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in change


def test_run_admin__list_and_change_pages(
    admin_client_logged_in: Client, audit_run: AuditRun
) -> None:
    response = admin_client_logged_in.get(reverse("admin:audit_auditrun_changelist"))
    assert response.status_code == 200
    assert reverse("audit:run-detail", args=[audit_run.pk]) in response.content.decode()
    change = admin_client_logged_in.get(
        reverse("admin:audit_auditrun_change", args=[audit_run.pk])
    )
    assert change.status_code == 200
    decisions = admin_client_logged_in.get(
        reverse("admin:audit_triagedecision_changelist")
    )
    assert decisions.status_code == 200
