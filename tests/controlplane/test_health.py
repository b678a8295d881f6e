"""/health/ (django-health-check), /health/live and /health/ready."""

import pytest


@pytest.mark.django_db
def test_health__reports_database_cache_migrations_storage_as_json(client):
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    names = " ".join(body)
    for check in ("Database", "Cache", "Migrations", "Storage"):
        assert check in names
    assert set(body.values()) == {"OK"}


@pytest.mark.django_db
def test_health__renders_html_for_browsers(client):
    response = client.get("/health/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "Migrations" in response.content.decode()


def test_health_live__answers_without_touching_dependencies(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_ready__ok_when_dependencies_are(client):
    assert (
        client.get("/health/ready", HTTP_ACCEPT="application/json").status_code == 200
    )


@pytest.mark.django_db(transaction=True)
def test_health_ready__503_when_database_is_unreachable(client, database_down):
    with database_down:
        ready = client.get("/health/ready", HTTP_ACCEPT="application/json")
        live = client.get("/health/live")
    assert ready.status_code == 503
    assert "Database" in " ".join(ready.json())
    assert live.status_code == 200
