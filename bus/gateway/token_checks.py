"""The token checks of hellos: all those waiting go to the database together.

A hello's token is checked, and its use recorded, by ``agent_tokens_use``
in a worker thread with a checked connection (``run_in_db_thread``). One
batch runs at a time; the hellos that arrive meanwhile wait for the next
one, so a storm of hellos costs a few queries rather than two each, and a
lone hello waits for no one: there is no timer, only the batch before it.
A batch that cannot reach the database fails each of its hellos with that
``DatabaseError`` (answered ``unavailable``), exactly as a single check did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bus.store.claims import run_in_db_thread
from controlplane.models import AgentToken
from controlplane.tokens import agent_tokens_use

# Most tokens in one query: far below psycopg's 65,535 parameters, and large
# enough that a storm of a thousand hellos takes two or three batches.
BATCH_TOKENS = 500

Check = Callable[[Sequence[str]], list[AgentToken | None]]
Waiter = tuple[str, "asyncio.Future[AgentToken | None]"]


class TokenChecks:
    """Check hello tokens in batches; built once per application (bus.routing)."""

    def __init__(self, check: Check = agent_tokens_use) -> None:
        self._check = check
        self._waiting: list[Waiter] = []
        self._runner: asyncio.Task[None] | None = None

    async def use(self, raw_token: str) -> AgentToken | None:
        """Return the token's usable agent and record its use; raise DatabaseError."""
        loop = asyncio.get_running_loop()
        if self._runner is not None and self._runner.get_loop() is not loop:
            # A server has one event loop for its life; tests have one per
            # test, and a loop that ended took its runner and waiters with it.
            self._runner = None
            self._waiting = [w for w in self._waiting if w[1].get_loop() is loop]
        future: asyncio.Future[AgentToken | None] = loop.create_future()
        self._waiting.append((raw_token, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:BATCH_TOKENS]
                del self._waiting[:BATCH_TOKENS]
                await self._answer(batch)
        finally:
            self._runner = None

    async def _answer(self, batch: list[Waiter]) -> None:
        try:
            rows = await run_in_db_thread(self._check, [token for token, _ in batch])
            answers = list(zip(batch, rows, strict=True))
        except asyncio.CancelledError:
            # The process is stopping: its hellos are abandoned with it.
            for _, future in batch + self._waiting:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001  (handed on, never swallowed:
            # each hello of the batch raises it, as its own check would have;
            # a DatabaseError becomes `unavailable`, anything else the frame
            # boundary's logged internal error.)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), row in answers:
            # A hello whose connection went away meanwhile no longer waits.
            if not future.done():
                future.set_result(row)
