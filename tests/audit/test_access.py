"""Audit pages and exports open only to staff with the audit view permissions."""

import pytest
from django.test import Client

from audit.models import AuditRun
from tests.audit.access import EXPECTED_STATUS, audit_urls_of, audit_visitors

pytestmark = pytest.mark.django_db


def test_audit_urls__cover_every_pattern_and_export_format(audit_run: AuditRun):
    urls = audit_urls_of(audit_run)
    # list, detail, file view, one export per format, both config template parts
    assert len(urls) == 3 + 3 + 2
    assert any(url.endswith("export.sarif") for url in urls)


@pytest.mark.parametrize("visitor", list(EXPECTED_STATUS))
def test_audit_urls__need_staff_with_the_view_permissions(
    client: Client, audit_run: AuditRun, django_user_model: type, visitor: str
):
    user = audit_visitors(django_user_model)[visitor]
    if user is not None:
        client.force_login(user)
    for url in audit_urls_of(audit_run):
        response = client.get(url)
        assert response.status_code == EXPECTED_STATUS[visitor], (visitor, url)
        if visitor == "anonymous":
            assert response["Location"].startswith("/admin/login/?next=")
        if response.status_code == 403:
            assert b"AUD" not in response.content
