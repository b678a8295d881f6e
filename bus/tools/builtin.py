"""The built-in tools every deployment ships (PROTOCOL.md, "Built-in tools")."""

import asyncio
import random

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


def generate(bytes: int, seed: int | None = None) -> str:  # noqa: A002  (protocol name)
    """Return exactly `bytes` ASCII characters of space-separated words."""
    rng = random.Random(seed)
    words, size = [], 0
    while size < bytes:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:bytes].ljust(bytes, "x")
