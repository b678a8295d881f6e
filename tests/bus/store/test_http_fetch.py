"""GET /bus/<txn>/ through the served ASGI application (the fetch outside Django).

Every answer is compared with what Django's own handler gives for the same
request, so that the fast path and the view cannot drift apart.
"""

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from bus.models import BusEvent, Message
from bus.store import services
from controlplane.asgi import application, django_asgi_app
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_revoke
from tests.bus.conftest import result_json, store_message, tamper_payload

MIB = 1024 * 1024
# Headers that differ between any two responses by design.
PER_RESPONSE = {b"x-request-id"}
pytestmark = pytest.mark.django_db(transaction=True)


async def call(
    app: Any,
    path: str,
    *,
    token: str | None = None,
    method: str = "GET",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    host: bytes = b"testserver",
) -> dict[str, Any]:
    """Send one HTTP request to an ASGI application; return status, headers, body."""
    sent = [(b"host", host), *headers]
    if token is not None:
        sent.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": sent,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    requested = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not requested.is_set():
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    answer: dict[str, Any] = {"body": b"", "pieces": 0}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {
                name.lower(): value for name, value in message["headers"]
            }
        else:
            answer["body"] += message.get("body", b"")
            answer["pieces"] += 1

    await app(scope, receive, send)
    return answer


def same_answer(fast: dict[str, Any], django: dict[str, Any]) -> None:
    assert fast["status"] == django["status"]
    assert fast["body"] == django["body"]
    strip = lambda headers: {k: v for k, v in headers.items() if k not in PER_RESPONSE}  # noqa: E731
    assert strip(fast["headers"]) == strip(django["headers"])


async def stored_claim(agent, data: bytes) -> str:
    return (await sync_to_async(store_message)(agent, data)).transaction_id


async def fetched_events(transaction_id: str) -> int:
    return await BusEvent.objects.filter(
        kind=BusEvent.Kind.FETCHED, transaction_id=transaction_id
    ).acount()


async def test_bus_fetch_mount__answers_like_django(agent_with_token) -> None:
    producer, token = agent_with_token
    data = result_json(3 * MIB + 5)
    txn = await stored_claim(producer, data)

    fast = await call(application, f"/bus/{txn}/", token=token)
    django = await call(django_asgi_app, f"/bus/{txn}/", token=token)

    assert fast["status"] == 200 and fast["body"] == data
    assert (
        fast["headers"][b"x-checksum-sha256"]
        == hashlib.sha256(data).hexdigest().encode()
    )
    assert fast["headers"][b"x-content-type-options"] == b"nosniff"
    assert fast["headers"][b"x-frame-options"] == b"DENY"
    same_answer(fast, django)
    assert await fetched_events(txn) == 2


async def test_bus_fetch_mount__echoes_the_request_id(agent_with_token) -> None:
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    fast = await call(
        application, f"/bus/{txn}/", token=token, headers=((b"x-request-id", b"r-42"),)
    )
    assert fast["headers"][b"x-request-id"] == b"r-42"


@pytest.mark.parametrize("token", [None, "nope"])
async def test_bus_fetch_mount__unusable_tokens_get_djangos_401(
    agent_with_token, token
) -> None:
    producer, _ = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    fast = await call(application, f"/bus/{txn}/", token=token)
    assert fast["status"] == 401
    assert fast["headers"][b"www-authenticate"].startswith(b"Bearer")
    same_answer(fast, await call(django_asgi_app, f"/bus/{txn}/", token=token))
    assert await fetched_events(txn) == 0


async def test_bus_fetch_mount__revoked_token_is_401_at_once(agent_with_token) -> None:
    """No cache: the next fetch after a revocation is refused."""
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 200
    await sync_to_async(agent_token_revoke)(agent=producer)
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 401


async def test_bus_fetch_mount__expired_token_is_djangos_401_whatever_the_message(
    agent_with_token,
) -> None:
    """An expired token learns nothing: a stored and an unknown id answer alike."""
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    await AgentToken.objects.filter(pk=producer.pk).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    answers = []
    for path in (f"/bus/{txn}/", f"/bus/txn_{'0' * 32}/"):
        fast = await call(application, path, token=token)
        assert fast["status"] == 401
        same_answer(fast, await call(django_asgi_app, path, token=token))
        answers.append(fast)
    assert answers[0]["body"] == answers[1]["body"]
    assert await fetched_events(txn) == 0


async def test_bus_fetch_mount__token_expiring_later_is_served_until_then(
    agent_with_token,
) -> None:
    """The token's expiry is compared with the time of each request."""
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    await AgentToken.objects.filter(pk=producer.pk).aupdate(
        expires_at=timezone.now() + timedelta(hours=1)
    )
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 200
    await AgentToken.objects.filter(pk=producer.pk).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 401


async def test_bus_fetch_mount__other_agent_unknown_and_expired(
    agent_with_token, other_agent_with_token
) -> None:
    producer, token = agent_with_token
    _, other_token = other_agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    unknown = "txn_" + "0" * 32
    for path, who in ((f"/bus/{txn}/", other_token), (f"/bus/{unknown}/", token)):
        fast = await call(application, path, token=who)
        assert fast["status"] == 404
        same_answer(fast, await call(django_asgi_app, path, token=who))
    await Message.objects.filter(transaction_id=txn).aupdate(
        status=Message.Status.EXPIRED
    )
    fast = await call(application, f"/bus/{txn}/", token=token)
    assert fast["status"] == 410
    same_answer(fast, await call(django_asgi_app, f"/bus/{txn}/", token=token))


async def test_bus_fetch_mount__what_it_does_not_answer_goes_to_django(
    agent_with_token,
) -> None:
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    bad_host = await call(application, f"/bus/{txn}/", token=token, host=b"evil.test")
    assert bad_host["status"] == 400
    assert (await call(application, "/bus/txn_X/", token=token))["status"] == 404
    post = await call(application, f"/bus/{txn}/", token=token, method="POST")
    assert post["status"] == 405
    deleted = await call(application, f"/bus/{txn}/", token=token, method="DELETE")
    assert deleted["status"] == 204
    assert not await Message.objects.filter(transaction_id=txn).aexists()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
async def test_bus_fetch_mount__large_payload_streams_verified(
    agent_with_token, set_config, compression: str
) -> None:
    """Above STREAM_ABOVE_BYTES the body is decompressed piece by piece."""
    await sync_to_async(set_config)(MESSAGE_BUS_COMPRESSION=compression)
    producer, token = agent_with_token
    data = result_json(services.STREAM_ABOVE_BYTES + 3 * MIB + 1)
    txn = await stored_claim(producer, data)
    fast = await call(application, f"/bus/{txn}/", token=token)
    assert fast["status"] == 200 and fast["body"] == data
    assert fast["pieces"] > 3
    assert int(fast["headers"][b"content-length"]) == len(data)


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
async def test_bus_fetch_mount__corrupt_payload_sends_no_byte(
    agent_with_token, set_config, compression: str
) -> None:
    """A flipped byte, small or streamed: 500 and the row marked, nothing served."""
    await sync_to_async(set_config)(MESSAGE_BUS_COMPRESSION=compression)
    producer, token = agent_with_token
    for size in (2 * MIB, services.STREAM_ABOVE_BYTES + MIB):
        txn = await stored_claim(producer, result_json(size))
        row = await Message.objects.aget(transaction_id=txn)
        await sync_to_async(tamper_payload)(txn, offset=row.compressed_size_bytes // 2)
        fast = await call(application, f"/bus/{txn}/", token=token)
        assert fast["status"] == 500, size
        assert b"CHECKSUM_MISMATCH" in fast["body"]
        row = await Message.objects.aget(transaction_id=txn)
        assert row.status == Message.Status.ERROR
        assert await fetched_events(txn) == 0


async def test_bus_fetch_mount__database_down_is_503_then_back(
    agent_with_token, database_down
) -> None:
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    with database_down:
        fast = await call(application, f"/bus/{txn}/", token=token)
    assert fast["status"] == 503
    assert b"BUS_UNAVAILABLE" in fast["body"]
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 200


async def test_bus_fetch_mount__killed_connections_are_replaced(
    agent_with_token, persistent_connections
) -> None:
    """The server ends the bus threads' kept connections: the next fetch reconnects."""
    producer, token = agent_with_token
    txn = await stored_claim(producer, result_json(2 * MIB))
    assert (await call(application, f"/bus/{txn}/", token=token))["status"] == 200

    def terminate_others() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    assert await sync_to_async(terminate_others)() >= 1
    fast = await call(application, f"/bus/{txn}/", token=token)
    assert fast["status"] == 200
    assert await fetched_events(txn) == 2
