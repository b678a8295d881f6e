"""A real server refuses audit reports to everyone but staff with the view rights."""

import http.client
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from audit.analysis import ALL_FAMILIES, ScanOptions
from audit.services import audit_run_execute
from tests.audit.access import EXPECTED_STATUS, audit_urls_of, audit_visitors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOURCE = """\
STRIPE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def load(client):
    try:
        return client.get("https://api.acme.io/v1")
    except Exception:
        pass
"""


def _session_cookie(user: object) -> str:
    """Return a Cookie header for a logged-in session of user ("" for anonymous)."""
    if user is None:
        return ""
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def _get(port: int, url: str, cookie: str) -> tuple[int, str, bytes]:
    """GET url without following redirects; return status, Location and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", url, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.getheader("Location", ""), response.read()
    finally:
        connection.close()


def test_audit_urls__every_one_refused_unless_staff_with_view_permissions(
    control_plane, tmp_path: Path, django_user_model: type
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app.py").write_text(SOURCE)
    run = audit_run_execute(
        paths=[str(tree)],
        families=ALL_FAMILIES,
        options=ScanOptions(),
        target="hostile",
        jobs=1,
    )
    visitors = audit_visitors(django_user_model)
    server = control_plane()
    for visitor, user in visitors.items():
        cookie = _session_cookie(user)
        for url in audit_urls_of(run):
            status, location, body = _get(server.port, url, cookie)
            assert status == EXPECTED_STATUS[visitor], (visitor, url)
            if status == 302:
                assert location.startswith("/admin/login/?next=")
            if status != 200:
                assert b"sk_live" not in body and b"app.py" not in body
