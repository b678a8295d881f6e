"""The message bus as its callers use it: async, through the breaker, in threads.

``ClaimStore`` is built once at start-up (``BusConfig.ready``) with its circuit
breaker and handed to the gateway and the bus views. Database and codec work
runs in worker threads (not the single thread-sensitive one, so a 100 MB
compression never stalls the other sync work of the process), each call with
a fresh-or-healthy connection. Outages become BusUnavailableError, after the
breaker has counted them; any other database error becomes MessageQueryError
for that call only. A transaction id that cannot exist is NOT_FOUND before
the breaker or the database sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from bus.exceptions import BusUnavailableError, MessageQueryError
from bus.store import services
from bus.store.breaker import OUTAGE_ERRORS, CircuitBreaker
from controlplane.config import Config

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def with_checked_connection(
    fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run sync database work in this thread, closing a broken connection first
    and after (what every thread that keeps a connection must do)."""
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_in_db_thread(
    fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run sync database work in a worker thread, closing a broken connection."""
    return await sync_to_async(with_checked_connection, thread_sensitive=False)(
        fn, *args, **kwargs
    )


class ClaimStore:
    """Store, fetch and release claim-checked results; raise BusError subclasses."""

    def __init__(self, *, breaker: CircuitBreaker) -> None:
        self.breaker = breaker

    @property
    def breaker_state(self) -> str:
        """Return the circuit breaker's state: closed, open or half_open."""
        return self.breaker.state

    async def store(
        self, *, payload: bytes, producer: services.Producer, config: Config
    ) -> services.StoredMessage:
        """Store a result; raise PayloadTooLargeError, BusUnavailableError or
        MessageQueryError."""
        # Delivery logs an outage once, with what became of the result.
        return await self._through_breaker(
            config,
            "",
            services.message_store,
            payload=payload,
            producer=producer,
            config=config,
        )

    async def fetch(
        self, *, agent_id: int | None, transaction_id: str, config: Config
    ) -> services.FetchedPayload:
        """Return the agent's verified payload; raise a BusError."""
        services.transaction_id_check(transaction_id)
        return await self._through_breaker(
            config,
            f"fetch bus message {transaction_id}",
            services.message_fetch,
            transaction_id=transaction_id,
            agent_id=agent_id,
            config=config,
        )

    async def fetch_with_token(
        self, *, token: str, transaction_id: str, config: Config
    ) -> services.FetchedPayload | None:
        """Return the verified payload of the token's agent, None for a token
        that is unknown, revoked or expired; raise a BusError.

        The token check and the fetch share one query, one worker-thread hop
        and the breaker (it is the same database); an unusable token learns
        nothing about the message.
        """
        services.transaction_id_check(transaction_id)
        return await self._through_breaker(
            config,
            f"fetch bus message {transaction_id}",
            services.message_fetch_with_token,
            token=token,
            transaction_id=transaction_id,
            config=config,
        )

    async def release(
        self, *, agent_id: int | None, transaction_id: str, config: Config
    ) -> None:
        """Delete the agent's message now; raise a BusError."""
        services.transaction_id_check(transaction_id)
        await self._through_breaker(
            config,
            f"ack bus message {transaction_id}",
            services.message_ack,
            transaction_id=transaction_id,
            agent_id=agent_id,
        )

    async def operator_fetch(
        self, *, transaction_id: str, operator: str, config: Config
    ) -> services.FetchedPayload:
        """Return any verified payload for a staff user's download; raise a BusError."""
        services.transaction_id_check(transaction_id)
        return await self._through_breaker(
            config,
            f"fetch bus message {transaction_id} for {operator}",
            services.message_fetch,
            transaction_id=transaction_id,
            agent_id=None,
            config=config,
            operator=operator,
        )

    async def _through_breaker(
        self,
        config: Config,
        what: str,
        fn: Callable[P, T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run fn through the breaker in a worker thread; `what` names it in logs."""
        try:
            return await run_in_db_thread(
                self.breaker.call, config, fn, *args, **kwargs
            )
        except OUTAGE_ERRORS as exc:
            # The breaker has counted it; callers get the protocol's answer.
            if what:
                logger.warning("Cannot %s: %s", what, type(exc).__name__)
            raise BusUnavailableError(
                f"the message bus database is unavailable ({type(exc).__name__})"
            ) from exc
        except DatabaseError as exc:
            # Caused by this request or by a bug, not an outage: a person
            # should look, and only this call fails.
            logger.error(
                "Cannot %s: the database refused it (%s); not an outage",
                what or "store a result",
                type(exc).__name__,
                exc_info=True,
            )
            raise MessageQueryError(
                f"the message bus database refused this request ({type(exc).__name__})"
            ) from exc
