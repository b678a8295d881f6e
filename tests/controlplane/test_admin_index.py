"""The admin home links every operator page, and each of them opens."""

import re

import pytest
from django.test import Client


@pytest.mark.django_db
def test_admin_index__links_operator_pages_that_open(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/").content.decode()
    section = page.split('id="operator-pages"')[1].split("</table>")[0]
    links = re.findall(r'href="([^"]+)"', section)
    assert len(links) == 7
    for link in links:
        assert admin_client_logged_in.get(link).status_code == 200, link


@pytest.mark.django_db
def test_admin_dashboard__fragment_is_for_staff_only(admin_client_logged_in):
    response = Client().get("/admin/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    page = admin_client_logged_in.get("/admin/dashboard/").content.decode()
    assert page.lstrip().startswith('<div id="dashboard"')
    assert "nothing stored" in page and "never run" in page


@pytest.mark.django_db
def test_admin_index__has_no_view_site_link(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/").content.decode()
    assert "View site" not in page
    assert 'id="dashboard"' in page
