"""One Redis pub/sub channel per worker: how workers of a deployment reach
each other (cancels, joins, a call's relayed events).

Pub/sub delivers a message only to a worker subscribed at that moment, so
what must not be lost is also left in Redis by its sender (see
``redis_inflight``); the channel only makes it prompt. A subscription whose
connection breaks is made afresh, as often as it takes: the worker listens
again as soon as Redis answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# How long the reader waits for a message before it looks again; a read that
# finds nothing is not an error, and the wait bounds how late it stops.
READ_WAIT_SECS = 1.0
# Pause between attempts to subscribe again after the connection failed.
RESUBSCRIBE_PAUSE_SECS = 0.5

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class WorkerChannel:
    """This worker's subscription, and sending to any worker's channel."""

    def __init__(
        self, client: Redis, *, worker: str, prefix: str, handler: Handler
    ) -> None:
        self.client, self.worker, self.prefix = client, worker, prefix
        self.handler = handler
        self._pubsub: PubSub | None = None
        self._subscribing = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    def name(self, worker: str) -> str:
        """Return the channel a worker listens on."""
        return f"{self.prefix}:worker:{worker}"

    async def publish(self, worker: str, message: dict[str, Any]) -> None:
        """Send a message to a worker (raises RedisError when Redis is down)."""
        await self.client.publish(self.name(worker), json.dumps(message))

    async def listen(self) -> None:
        """Subscribe now (raises RedisError when Redis is down) and keep reading."""
        await self._subscribed()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())

    async def aclose(self) -> None:
        """Stop reading and drop the subscription."""
        if self._reader is not None:
            self._reader.cancel()
        await self._unsubscribed()

    async def _subscribed(self) -> PubSub:
        # One subscription per worker, whoever (a call, the reader) asks first.
        async with self._subscribing:
            if self._pubsub is None:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(self.name(self.worker))
                except RedisError:
                    await pubsub.aclose()
                    raise
                self._pubsub = pubsub
            return self._pubsub

    async def _read(self) -> None:
        """Hand this worker's messages to its handler; the task's boundary."""
        failing = False
        while True:
            try:
                pubsub = await self._subscribed()
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=READ_WAIT_SECS
                )
            except RedisError:
                # Redis is down or the connection broke: subscribe afresh.
                # Messages sent meanwhile are lost (their senders left what
                # matters in Redis). Logged once per outage.
                if not failing:
                    logger.warning("Listening on %s failed", self.worker, exc_info=True)
                failing = True
                await self._unsubscribed()
                await asyncio.sleep(RESUBSCRIBE_PAUSE_SECS)
                continue
            if failing:
                logger.info("Listening on %s again", self.worker)
            failing = False
            if message is not None and message["type"] == "message":
                await self._dispatch(message["data"])

    async def _unsubscribed(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            # Only releases the broken connection: nothing to fail that the
            # next subscription depends on.
            await pubsub.aclose()

    async def _dispatch(self, data: bytes) -> None:
        try:
            await self.handler(json.loads(data))
        except Exception:
            # One bad message must not stop this worker's listening.
            logger.exception("Cannot handle a message on %s", self.name(self.worker))
