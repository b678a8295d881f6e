"""Fixtures for the bus tests: the gateway and its sessions, agents, config, and the
message bus's payloads and breaker."""

from __future__ import annotations

import dataclasses
import importlib
import json
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, connections

from bus import dispatch, registry
from bus.breaker import CircuitBreaker, bus_breaker
from controlplane import config as cp_config
from controlplane.asgi import application
from controlplane.services import config_override_set
from controlplane.tokens import agent_token_create


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
def builtin_tools(db) -> None:
    """The built-in tools as the data migration creates them.

    Transactional tests flush every table afterwards, migration data included.
    """
    migration = importlib.import_module("bus.migrations.0002_builtin_tools")
    migration.create_builtins(django_apps, None)


@pytest.fixture
async def gateway(ws_config, builtin_tools) -> AsyncIterator[dispatch.Gateway]:
    """A fresh gateway with empty caches; leftover calls are cancelled at the end."""
    fresh = dispatch.Gateway()
    previous = dispatch.gateway
    dispatch.gateway = fresh
    registry.invalidate()
    cache.clear()
    yield fresh
    await fresh.drain(0)
    dispatch.gateway = previous
    registry.invalidate()


@pytest.fixture
def agent(db) -> tuple[Any, str]:
    """An agent token row and its raw token."""
    return agent_token_create(name="agent-one")


@pytest.fixture
def other_agent(db) -> tuple[Any, str]:
    """A second agent, to prove caches never cross agents."""
    return agent_token_create(name="agent-two")


class Client:
    """A WebsocketCommunicator with the protocol's small conveniences."""

    def __init__(self, path: str = "/ws/") -> None:
        self.comm = WebsocketCommunicator(application, path)
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


@pytest.fixture
async def connect(gateway) -> AsyncIterator[Callable[..., Any]]:
    """Open authenticated clients; every one is disconnected at the end."""
    clients: list[Client] = []

    async def open_client(token: str | None, path: str = "/ws/") -> Client:
        client = Client(path)
        clients.append(client)
        ack = await client.connect(token)
        assert ack["ok"] is True, ack
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
def make_tool(db) -> Callable[..., Any]:
    """Create a python tool (and its provider) as an operator would in the admin."""
    from bus.models import Provider, Tool

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
    bus_breaker.reset(clock=clock)
    yield clock
    bus_breaker.reset()


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


def closed_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query_closed_port() -> None:
    """Open a Django connection to a port where no database listens."""
    broken_settings = {**connection.settings_dict, "PORT": str(closed_port())}
    broken = type(connections["default"])(broken_settings, alias="broken")
    try:
        broken.ensure_connection()
    finally:
        broken.close()


def fail_times(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(DatabaseError):
            breaker.call(query_closed_port)


def tamper_payload(transaction_id: str, *, offset: int) -> None:
    """Flip one stored payload byte in SQL, as corruption or tampering would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE message_bus SET payload = set_byte(payload, %s, "
            "255 - get_byte(payload, %s)) WHERE transaction_id = %s",
            [offset, offset, transaction_id],
        )
