"""Fixtures of the message bus tests: agents, payloads, config and the breaker."""

import json
import random
import socket
from collections.abc import Callable, Iterator

import pytest
from django.db import DatabaseError, connection, connections

from bus.breaker import CircuitBreaker, bus_breaker
from controlplane import config as cp_config
from controlplane.services import config_override_set
from controlplane.tokens import agent_token_create


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
def agent(agent_with_token):
    return agent_with_token[0]


@pytest.fixture
def other_agent_with_token(db):
    return agent_token_create(name="someone-else")


@pytest.fixture
def other_agent(other_agent_with_token):
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
    settings = {**connection.settings_dict, "PORT": str(closed_port())}
    broken = type(connections["default"])(settings, alias="broken")
    try:
        broken.ensure_connection()
    finally:
        broken.close()


def fail_times(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(DatabaseError):
            breaker.call(query_closed_port)
