"""HTTP claim-check fetch and release, operator download, overview and health."""

import hashlib
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient
from django.utils import timezone

from bus.apps import bus_app
from bus.models import BusEvent, Message
from controlplane.tokens import agent_token_revoke
from tests.bus.conftest import (
    fail_times,
    result_json,
    store_message,
    tamper_payload,
)

MIB = 1024 * 1024
pytestmark = pytest.mark.django_db(transaction=True)


async def stored_claim(producer, data: bytes) -> str:
    stored = await database_sync_to_async(store_message)(producer, data)
    return stored.transaction_id


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def body(response) -> bytes:
    return b"".join([piece async for piece in response.streaming_content])


async def test_bus_get__streams_the_result_with_headers(agent_with_token) -> None:
    producer, token = agent_with_token
    data = result_json(3 * MIB + 5)
    txn = await stored_claim(producer, data)

    response = await AsyncClient().get(f"/bus/{txn}/", headers=bearer(token))

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json"
    assert response["Content-Length"] == str(len(data))
    assert response["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
    assert await body(response) == data


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}],
)
async def test_bus_get__without_a_valid_token_is_401(producer, headers) -> None:
    txn = await stored_claim(producer, result_json(2 * MIB))
    response = await AsyncClient().get(f"/bus/{txn}/", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_bus_get__revoked_token_is_401(agent_with_token) -> None:
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    await database_sync_to_async(agent_token_revoke)(agent=producer)
    response = await AsyncClient().get(f"/bus/{txn}/", headers=bearer(token))
    assert response.status_code == 401


async def test_bus_get__other_agent_is_404_like_unknown(
    producer, other_agent_with_token
) -> None:
    _, other_token = other_agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    client = AsyncClient()
    theirs = await client.get(f"/bus/{txn}/", headers=bearer(other_token))
    unknown = await client.get(
        "/bus/txn_" + "0" * 32 + "/", headers=bearer(other_token)
    )
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == "NOT_FOUND"
    assert await database_sync_to_async(
        Message.objects.filter(transaction_id=txn).exists
    )(), "a refused fetch never deletes"


async def test_bus_get__expired_is_410_and_tampered_is_500(agent_with_token) -> None:
    producer, token = agent_with_token
    expired = await stored_claim(producer, result_json(2 * MIB))
    tampered = await stored_claim(producer, result_json(2 * MIB))
    await Message.objects.filter(transaction_id=expired).aupdate(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    await database_sync_to_async(tamper_payload)(tampered, offset=7)
    client = AsyncClient()
    gone = await client.get(f"/bus/{expired}/", headers=bearer(token))
    bad = await client.get(f"/bus/{tampered}/", headers=bearer(token))
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "EXPIRED"
    assert bad.status_code == 500 and bad.json()["error"]["code"] == "CHECKSUM_MISMATCH"


async def test_bus_delete__releases_only_the_owners_claim(
    agent_with_token, other_agent_with_token
) -> None:
    producer, token = agent_with_token
    _, other_token = other_agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    client = AsyncClient()

    assert (
        await client.delete(f"/bus/{txn}/", headers=bearer(other_token))
    ).status_code == 404
    assert (
        await client.delete(f"/bus/{txn}/", headers=bearer(token))
    ).status_code == 204
    assert (await client.get(f"/bus/{txn}/", headers=bearer(token))).status_code == 404
    assert (await client.post(f"/bus/{txn}/", headers=bearer(token))).status_code == 405


async def test_bus_get__database_down_is_503(agent_with_token, database_down) -> None:
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    with database_down:
        response = await AsyncClient().get(f"/bus/{txn}/", headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "BUS_UNAVAILABLE"


def test_overview__staff_sees_counts_chart_and_breaker(
    admin_client_logged_in, producer
) -> None:
    store_message(producer, result_json(2 * MIB))
    response = admin_client_logged_in.get("/bus/overview/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "<rect" in page
    assert "Circuit breaker" in page and "closed" in page
    assert "zstd" in page and "2 MiB" in page


def test_overview__needs_staff(client) -> None:
    response = client.get("/bus/overview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


async def test_admin_download__operator_gets_the_payload(producer, staff_user) -> None:
    data = result_json(2 * MIB)
    txn = await stored_claim(producer, data)
    pk = (await Message.objects.aget(transaction_id=txn)).pk
    client = AsyncClient()
    await database_sync_to_async(client.force_login)(staff_user)

    response = await client.get(f"/bus/admin/{pk}/download/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{txn}.json"'
    assert await body(response) == data
    event = await BusEvent.objects.aget(kind=BusEvent.Kind.FETCHED)
    assert event.agent_name == ""
    assert event.detail == {"operator": staff_user.username, "owner": producer.name}


async def test_admin_download__anonymous_is_sent_to_login(producer) -> None:
    txn = await stored_claim(producer, result_json(2 * MIB))
    pk = (await Message.objects.aget(transaction_id=txn)).pk
    response = await AsyncClient().get(f"/bus/admin/{pk}/download/")
    assert response.status_code == 302


def test_health__open_breaker_is_a_warning_and_ready_stays_200(
    client, set_config
) -> None:
    """Calls are still served while the breaker is open: degraded, not down."""
    ok = client.get("/health/?format=json").json()
    assert ok["MessageBusBreaker()"] == "OK"
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    fail_times(bus_app().claims.breaker, 1)

    health = client.get("/health/?format=json")
    page = client.get("/health/", HTTP_ACCEPT="text/html")
    text = client.get("/health/?format=text")
    ready = client.get("/health/ready", HTTP_ACCEPT="application/json")

    assert health.status_code == page.status_code == text.status_code == 200
    assert health.json()["MessageBusBreaker()"].startswith("Warning: ")
    assert "breaker is open" in health.json()["MessageBusBreaker()"]
    assert "breaker is open" in page.content.decode()
    assert ready.status_code == 200


def test_health__a_failed_check_with_a_warning_is_still_500(
    client, set_config, database_down
) -> None:
    set_config(CIRCUIT_BREAKER_THRESHOLD=1)
    fail_times(bus_app().claims.breaker, 1)
    with database_down:
        response = client.get("/health/?format=json")
    assert response.status_code == 500
    assert response.json()["MessageBusBreaker()"].startswith("Warning: ")


MALFORMED_PATHS = [
    "txn_%00",
    "%00",
    "txn_" + "0" * 31 + "%00",
    "txn_" + "A" * 32,
    "txn_" + "0" * 33,
    "txn_" + "0" * 32 + "%0A",
    "txn_%2E%2E",
    "x" * 5000,
]


@pytest.mark.parametrize("method", ["get", "delete"])
async def test_bus_message__malformed_ids_are_404_and_never_open_the_breaker(
    agent_with_token, set_config, method
) -> None:
    """A NUL once raised DataError in the driver, which the breaker counted."""
    producer, token = agent_with_token
    await database_sync_to_async(set_config)(CIRCUIT_BREAKER_THRESHOLD=1)
    client = AsyncClient()
    for path in MALFORMED_PATHS * 3:
        response = await getattr(client, method)(f"/bus/{path}/", headers=bearer(token))
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert bus_app().claims.breaker_state == "closed"
    txn = await stored_claim(producer, result_json(2 * MIB))
    response = await client.get(f"/bus/{txn}/", headers=bearer(token))
    assert response.status_code == 200


async def test_bus_message__malformed_id_without_a_token_is_still_401() -> None:
    response = await AsyncClient().get("/bus/txn_%00/")
    assert response.status_code == 401
