"""Several Lua scripts of the seams in one Redis round trip.

Each command costs a worker far more CPU in redis-py (connection checkout,
the retry wrapper, the socket timeout's timer, packing, a wake-up for the
reply) than it costs Redis, so steps of a call that do not decide one another
go out together: one ``pipeline(transaction=False)`` of ``EVALSHA``s. Redis
runs them one after the other in the order given, so an ordering the seams
rely on (an answer cached before its call stops being in flight) holds; they
are not one transaction, which none of them needs. The pipeline carries no
``Script`` objects, which would cost a ``SCRIPT EXISTS`` round trip each time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One script with its keys and arguments, and what its failure leaves behind.

    `failed` logs the failure: the steps batched here (storing an answer,
    ending an entry, releasing a slot) each have a fallback (the entry or
    lease expires, a resend runs the call again) and must not stop the
    answer from going out.
    """

    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    failed: Callable[[RedisError], None]

    async def run(self) -> None:
        """Run the script alone (loading it if Redis lost it); log a failure."""
        try:
            await self.script(keys=self.keys, args=self.args)
        except RedisError as error:
            self.failed(error)


async def run_together(client: Redis, calls: Sequence[ScriptCall]) -> None:
    """Run scripts in order in one round trip; each failure goes to its `failed`."""
    if len(calls) == 1:
        await calls[0].run()
        return
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    try:
        outcomes = await pipe.execute(raise_on_error=False)
    except RedisError as error:
        for call in calls:
            call.failed(error)
        return
    for call, outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, NoScriptError):
            # Redis restarted (or flushed its scripts): the script did not
            # run, so running it now, alone, loads it and does it once. A
            # restart loses every script at once, so the ones that failed
            # this way still run in the order given.
            await call.run()
        elif isinstance(outcome, RedisError):
            call.failed(outcome)
