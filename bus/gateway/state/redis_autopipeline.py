"""Scripts of concurrent calls sharing one Redis pipeline.

redis-py's cost is per round trip far more than per command in it (on the
development machine an ``EVALSHA`` alone costs the worker 74 us of CPU, one
of fifty in a pipeline 19 us: benchmarks/README.md "Fewer Redis commands per
call"). Under load many calls reach the same step in one turn of the event
loop, so the scripts they issue in that turn go out as one
``pipeline(transaction=False)``, each caller awaiting its own reply. Redis
runs them in the order they were issued, as it would have one by one; they
are not one transaction, which none of them needs. The pipeline carries no
``Script`` objects (those cost a ``SCRIPT EXISTS`` round trip each time): a
script Redis lost (a restart, ``SCRIPT FLUSH``) fails that command alone with
NOSCRIPT, and that command runs again alone, which loads it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

logger = logging.getLogger(__name__)

Pending = tuple[AsyncScript, Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


class AutoPipeline:
    """Send the scripts issued in one turn of the event loop together."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._pending: list[Pending] = []
        # The loop holds only weak references to tasks: keep each until done.
        self._sending: set[asyncio.Task[None]] = set()

    async def evaluate(
        self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
    ) -> Any:
        """Run a script with the others of this turn; return its reply or raise
        its RedisError."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((script, keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Pending]) -> None:
        """Send one batch and settle its callers; the task's top-level boundary."""
        try:
            replies = await self._replies(batch)
        except BaseException as error:
            # A caller must never wait for ever: every one gets the error (a
            # RedisError is the seams' outage; anything else is a bug), or is
            # cancelled with this task (at shutdown).
            if not isinstance(error, RedisError):
                logger.exception("Sending %d Redis scripts failed", len(batch))
            for *_, future in batch:
                if future.done():
                    continue
                if isinstance(error, Exception):
                    future.set_exception(error)
                else:
                    future.cancel()
            if not isinstance(error, Exception):
                raise
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                # Its caller was cancelled; the command ran regardless.
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _replies(self, batch: list[Pending]) -> list[Any]:
        if len(batch) == 1:
            script, keys, args, _ = batch[0]
            try:
                return [await script(keys=keys, args=args)]
            except RedisError as error:
                return [error]
        pipe = self.client.pipeline(transaction=False)
        for script, keys, args, _ in batch:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies = list(await pipe.execute(raise_on_error=False))
        for n, (script, keys, args, _) in enumerate(batch):
            if isinstance(replies[n], NoScriptError):
                # Lost scripts fail before running: running it now does it
                # once. A restart loses all at once, so these keep their order.
                try:
                    replies[n] = await script(keys=keys, args=args)
                except RedisError as error:
                    replies[n] = error
        return replies
