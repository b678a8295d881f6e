"""/metrics is open by default and needs `Authorization: Bearer` with METRICS_TOKEN."""

import pytest

TOKEN = "metrics-scrape-token-0123456789"  # audit: ignore[AUD105] a test value

pytestmark = pytest.mark.django_db


def test_metrics__open_without_a_token_configured(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "controlplane_ws_sessions" in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer "],
    ids=["absent", "empty", "other-scheme", "longer", "shorter", "no-token"],
)
def test_metrics__token_configured_refuses_anything_else(
    client, environment_config, authorization
) -> None:
    environment_config(METRICS_TOKEN=TOKEN)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "controlplane_ws" not in response.text


def test_metrics__token_configured_serves_the_bearer(client, environment_config):
    environment_config(METRICS_TOKEN=TOKEN)
    for scheme in ("Bearer", "bearer"):
        response = client.get(
            "/metrics", headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert response.status_code == 200
        assert "controlplane_ws_sessions" in response.text
