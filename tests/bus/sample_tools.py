"""Tool callables the gateway tests register (python kind)."""

import asyncio
import time

CALLS: list[dict] = []


def explode(**arguments: object) -> str:
    """Raise, as a broken tool would."""
    raise ValueError("boom: the tool broke")


async def nothing(**arguments: object) -> None:
    """Return nothing at all."""
    return None


async def record(**arguments: object) -> str:
    """Remember each call (a tool with side effects) and wait a moment."""
    CALLS.append(arguments)
    await asyncio.sleep(float(arguments.get("seconds", 0)))
    return f"call {len(CALLS)}"


def structured(**arguments: object) -> list[dict]:
    """Return ready-made outputs, text and otherwise."""
    return [{"type": "text", "text": "a"}, {"type": "json", "data": {"n": 1}}]


def agent_count(**arguments: object) -> str:
    """Count the agents with the ORM, from the worker thread a sync tool runs in."""
    from controlplane.models import AgentToken

    return str(AgentToken.objects.count())


def block(seconds: float) -> str:
    """Block a worker thread (a sync tool that cannot be interrupted)."""
    time.sleep(seconds)
    return "done"


async def chatty(**arguments: object) -> str:
    """Report progress notes far faster than heartbeats go out."""
    from bus.gateway.tools.base import heartbeat

    send = heartbeat.get()
    for step in range(100):
        send(f"step {step}")
    await asyncio.sleep(0)
    return "talked"


def chatty_thread(**arguments: object) -> str:
    """Report one progress note from a worker thread (a sync tool)."""
    from bus.gateway.tools.base import heartbeat

    heartbeat.get()("from a thread")
    return "talked"
