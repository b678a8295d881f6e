"""Fixtures for the bus tests: the gateway and its sessions, agents, config, and the
message bus's payloads and breaker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, connections

from bus.apps import bus_app
from bus.gateway.factory import build_gateway
from bus.gateway.pipeline import Gateway
from bus.store import services
from bus.store.breaker import CircuitBreaker
from bus.store.services import Producer
from controlplane import config as cp_config
from controlplane.asgi import build_application
from controlplane.config import get_config
from controlplane.services import config_override_set
from controlplane.tokens import agent_token_create
from tests.servers import free_port


@pytest.fixture
def ws_config(tmp_path) -> Iterator[Callable[..., None]]:
    """Set configuration values as the environment would; restored afterwards."""
    original = settings.CONTROLPLANE_BASE_CONFIG

    def configure(**values: Any) -> None:
        current = settings.CONTROLPLANE_BASE_CONFIG
        settings.CONTROLPLANE_BASE_CONFIG = dataclasses.replace(
            current,
            values={**current.values, **values},
            from_environment=current.from_environment | set(values),
        )
        cp_config.invalidate()

    configure(
        WS_METRICS_PATH=str(tmp_path / "metrics.jsonl"),
        WS_HEALTH_PATH=str(tmp_path / "health.json"),
    )
    yield configure
    settings.CONTROLPLANE_BASE_CONFIG = original
    cp_config.invalidate()


@pytest.fixture
async def gateway(ws_config, builtin_tools) -> AsyncIterator[Gateway]:
    """A gateway of the test's own with empty caches; leftover calls are cancelled."""
    fresh = build_gateway(claims=bus_app().claims)
    cache.clear()
    yield fresh
    await fresh.drain(0)


@pytest.fixture
def ws_application(gateway):
    """The project's ASGI application with its WebSocket consumers on `gateway`."""
    return build_application(gateway)


class Client:
    """A WebsocketCommunicator with the protocol's small conveniences."""

    def __init__(self, application: Any, path: str = "/ws/", **kwargs: Any) -> None:
        self.comm = WebsocketCommunicator(application, path, **kwargs)
        self.hello_ack: dict[str, Any] = {}

    async def connect(self, token: str | None) -> dict[str, Any]:
        connected, _ = await self.comm.connect()
        assert connected
        await self.send({"op": "hello", "token": token})
        self.hello_ack = await self.receive()
        return self.hello_ack

    async def send(self, frame: dict[str, Any]) -> None:
        await self.comm.send_json_to(frame)

    async def send_text(self, text: str) -> None:
        # send_input, unlike send_to, also delivers an empty text frame.
        await self.comm.send_input({"type": "websocket.receive", "text": text})

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        return await self.comm.receive_json_from(timeout=timeout)

    async def send_call(
        self, name: str, arguments: dict[str, Any], request_id: str = "r-1"
    ) -> None:
        await self.send(
            {
                "op": "call_tool",
                "name": name,
                "request_id": request_id,
                "arguments": arguments,
            }
        )

    async def start(
        self, name: str, arguments: dict[str, Any], request_id: str = "r-1"
    ) -> dict[str, Any]:
        """Send a call and return its ack (the call is accepted and running)."""
        await self.send_call(name, arguments, request_id)
        ack = await self.receive()
        assert ack["op"] == "call_tool_ack", ack
        return ack

    async def call(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        request_id: str = "r-1",
    ) -> list[dict[str, Any]]:
        """Send a call and return every frame up to and including its result."""
        await self.send_call(name, arguments or {}, request_id)
        return await self.until_result(request_id)

    async def until_result(self, request_id: str) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = await self.receive()
            frames.append(frame)
            if frame["op"] == "call_tool_res" and frame["request_id"] == request_id:
                return frames

    async def close(self) -> None:
        await self.comm.disconnect()


async def _clients(application: Any) -> AsyncIterator[Callable[..., Any]]:
    clients: list[Client] = []

    async def open_client(token: str | None, path: str = "/ws/") -> Client:
        client = Client(application, path)
        clients.append(client)
        ack = await client.connect(token)
        assert ack["ok"] is True, ack
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def connect(ws_application) -> AsyncIterator[Callable[..., Any]]:
    """Open authenticated clients; every one is disconnected at the end."""
    async for open_client in _clients(ws_application):
        yield open_client


@pytest.fixture
async def process_gateway(ws_config, builtin_tools) -> AsyncIterator[Gateway]:
    """The gateway this process built at start-up: what the admin and /metrics show."""
    gateway = bus_app().gateway
    gateway.registry.invalidate()
    cache.clear()
    yield gateway
    for call in list(gateway.running.values()):
        call.cancel("the test is over")
    if gateway.tasks:
        await asyncio.wait(set(gateway.tasks), timeout=5)


@pytest.fixture
async def connect_to_process(process_gateway) -> AsyncIterator[Callable[..., Any]]:
    """Open clients of the process's own application (controlplane.asgi)."""
    from controlplane.asgi import application

    async for open_client in _clients(application):
        yield open_client


@pytest.fixture
def make_tool(db, request) -> Callable[..., Any]:
    """Create a python tool (and its provider) as an operator would in the admin."""
    from bus.models import Provider, Tool

    # The test's own gateway, when it has one, and the process's (admin, views)
    # see the new tool at once, as the admin's save makes them.
    registries = [bus_app().gateway.registry]
    if "gateway" in request.fixturenames:
        registries.append(request.getfixturevalue("gateway").registry)

    def create(
        name: str,
        target: str,
        *,
        provider: str = "builtin",
        max_inflight: int = 0,
        schema: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Tool:
        owner, _ = Provider.objects.get_or_create(
            name=provider, defaults={"max_inflight": max_inflight}
        )
        tool = Tool.objects.create(
            name=name,
            target=target,
            provider=owner,
            input_schema=schema if schema is not None else {"type": "object"},
            **fields,
        )
        for registry in registries:
            registry.invalidate()
        return tool

    return create


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def closed_breaker() -> Iterator[FakeClock]:
    """Every test starts with a closed breaker driven by a fake clock."""
    clock = FakeClock()
    breaker = bus_app().claims.breaker
    breaker.reset(clock=clock)
    yield clock
    breaker.reset()


@pytest.fixture
def clock(closed_breaker: FakeClock) -> FakeClock:
    return closed_breaker


@pytest.fixture
def agent_with_token(db):
    """An agent and its raw token."""
    return agent_token_create(name="producer")


@pytest.fixture
def producer(agent_with_token):
    """The agent whose tool produced the stored result."""
    return agent_with_token[0]


@pytest.fixture
def other_agent_with_token(db):
    return agent_token_create(name="someone-else")


@pytest.fixture
def stranger(other_agent_with_token):
    """Any other agent: it must never see the producer's messages."""
    return other_agent_with_token[0]


@pytest.fixture
def set_config(db) -> Callable[..., None]:
    """Override configuration keys the way an operator does in the admin."""

    def apply(**values: object) -> None:
        for key, value in values.items():
            raw = str(value).lower() if isinstance(value, bool) else str(value)
            config_override_set(key=key, raw_value=raw, reason="test", user=None)
        cp_config.invalidate()
        cp_config.get_config()  # read now, as a running process already has

    return apply


def result_json(size: int, *, seed: int = 7) -> bytes:
    """Return a tool result {"outputs":[...]} of exactly size bytes of UTF-8 JSON."""
    empty = json.dumps({"outputs": [{"type": "text", "text": ""}]}).encode()
    if size < len(empty):
        return b" " * size
    rng = random.Random(seed)
    words = [
        "".join(rng.choices("abcdefghijklmnop", k=rng.randint(2, 9)))
        for _ in range(400)
    ]
    text_len = size - len(empty)
    block = " ".join(rng.choices(words, k=min(text_len, 1 << 20) // 5 + 1))
    text = (block * (text_len // len(block) + 1))[:text_len]
    return json.dumps({"outputs": [{"type": "text", "text": text}]}).encode()


def query_closed_port() -> None:
    """Open a Django connection to a port where no database listens."""
    broken_settings = {**connection.settings_dict, "PORT": str(free_port())}
    broken = type(connections["default"])(broken_settings, alias="broken")
    try:
        broken.ensure_connection()
    finally:
        broken.close()


def fail_times(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(DatabaseError):
            breaker.call(get_config(), query_closed_port)


def tamper_payload(transaction_id: str, *, offset: int) -> None:
    """Flip one stored payload byte in SQL, as corruption or tampering would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE message_bus SET payload = set_byte(payload, %s, "
            "255 - get_byte(payload, %s)) WHERE transaction_id = %s",
            [offset, offset, transaction_id],
        )


def producer_of(agent: Any, *, tool_name: str = "generate") -> Producer:
    """Return what a message row records of the agent whose call produced it."""
    return Producer(
        agent_id=agent.pk if agent is not None else None,
        agent_name=agent.name if agent is not None else "",
        session_id="sess-1",
        request_id="r-1",
        tool_name=tool_name,
        provider_name="builtin",
    )


def store_message(agent: Any, data: bytes, **fields: Any) -> services.StoredMessage:
    """Store a result as the gateway's delivery does, for the agent."""
    return services.message_store(
        payload=data, producer=producer_of(agent, **fields), config=get_config()
    )


def fetch_message(**fields: Any) -> services.FetchedPayload:
    """Fetch a stored result with the current configuration."""
    return services.message_fetch(config=get_config(), **fields)


@pytest.fixture
def persistent_connections():
    """Keep connections between bus calls, health-checked, as production should."""
    settings_dict = connection.settings_dict  # shared by every thread's connection
    kept = settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"]
    settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"] = 60, True
    yield
    settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"] = kept
    # This thread's connection was ended too; the teardown's flush needs a new one.
    connection.close()
