"""The built-in tools every deployment ships (PROTOCOL.md, "Built-in tools")."""

import asyncio
import random

from bus.gateway.tools import ToolError
from bus.protocol import ErrorCode
from controlplane.config import MIB, aget_config

_WORDS = (
    "agent tool call result bus claim check payload stream chunk frame socket "
    "session token provider schema progress timeout cancel replay cache limit "
    "config override admin audit finding health metrics compress checksum expire"
).split()


async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


async def sleep(seconds: float) -> str:
    """Wait, then say how long; cancellation interrupts the wait."""
    await asyncio.sleep(seconds)
    return f"slept {seconds:g}" if isinstance(seconds, float) else f"slept {seconds}"


async def generate(bytes: int, seed: int | None = None) -> str:  # noqa: A002  (protocol name)
    """Return exactly `bytes` ASCII characters of space-separated words.

    Raises ToolError (PAYLOAD_TOO_LARGE) at once, without building the text,
    when `bytes` is above MESSAGE_BUS_MAX_PAYLOAD_MB MiB.
    """
    config = await aget_config()
    if bytes > config.MESSAGE_BUS_MAX_PAYLOAD_MB * MIB:
        raise ToolError(
            f"a result of {bytes} bytes exceeds "
            f"{config.MESSAGE_BUS_MAX_PAYLOAD_MB} MiB",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    # JSON Schema's integer also takes 1e3 or 1000.0 (floats without a
    # fraction): the text is built from the integer they stand for.
    seed = None if seed is None else int(seed)
    # Up to MESSAGE_BUS_MAX_PAYLOAD_MB of text: built off the event loop.
    return await asyncio.to_thread(_words, int(bytes), seed)


def _words(size: int, seed: int | None) -> str:
    rng = random.Random(seed)
    words, length = [], 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size].ljust(size, "x")
