"""The admin home links every operator page, and each of them opens."""

import re

import pytest


@pytest.mark.django_db
def test_admin_index__links_operator_pages_that_open(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/").content.decode()
    section = page.split('id="operator-pages"')[1].split("</table>")[0]
    links = re.findall(r'href="([^"]+)"', section)
    assert len(links) == 7
    for link in links:
        assert admin_client_logged_in.get(link).status_code == 200, link
