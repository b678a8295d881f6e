"""The agent WebSocket's handshake: the hello frame, its limits and refusals.

PROTOCOL.md "hello": the first frame authenticates the connection within
WS_HELLO_TIMEOUT_SECS, or the connection is refused with the protocol's close
code. ``AgentConsumer`` (``websocket``) takes this as a mixin; it provides the
connection's state and its ``send_frame`` and ``close``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.db import DatabaseError
from redis.exceptions import RedisError

from bus.gateway import metrics
from bus.gateway.client_address import client_address
from bus.gateway.hellos import hello_failed, hello_limited
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import ANONYMOUS, Session
from bus.gateway.token_checks import TokenChecks
from bus.gateway.transports.frames import agent_of, client_label, hello_ack
from bus.protocol import CloseCode, FrameError, HelloError, Op, loads
from controlplane.config import Config, aget_config
from controlplane.logconfig import session_id_var
from controlplane.tokens import token_hash

logger = logging.getLogger(__name__)


class HelloHandshake:
    """The hello of one connection: limited, checked, then its session opened."""

    gateway: Gateway
    token_checks: TokenChecks
    scope: dict[str, Any]
    session: Session | None
    refused: bool
    hello_timer: asyncio.Task[None] | None

    async def _expire_hello(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.refused = True
        await self.close(code=CloseCode.HELLO_TIMEOUT)

    async def _refuse(self, error: str, code: int) -> None:
        self.refused = True
        metrics.record_hello_refusal(error)
        await self.send_frame({"op": Op.HELLO_ACK, "ok": False, "error": error})
        await self.close(code=code)

    async def _fail(self, address: str, error: str, code: int, config: Config) -> None:
        # A failure of the client's making: it counts towards the rate limit.
        try:
            await hello_failed(
                failures=self.gateway.hello_failures,
                address=address,
                reason=error,
                config=config,
            )
        except RedisError:
            # A failure that cannot be counted must not be free to repeat:
            # refused as unavailable, like every hello while Redis is down.
            logger.warning("Cannot count a failed hello: Redis unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        await self._refuse(error, code)

    async def _hello(self, text: str) -> None:
        if self.hello_timer is not None:
            self.hello_timer.cancel()
        config = await aget_config()
        address = client_address(self.scope, config.WS_TRUSTED_PROXIES)
        # Before anything is parsed or looked up: a limited address costs no query.
        try:
            limited = await hello_limited(
                failures=self.gateway.hello_failures, address=address, config=config
            )
        except RedisError:
            # The limit cannot be checked (REDIS_URL set, Redis down or slower
            # than REDIS_TIMEOUT_SECS): like a token that cannot be checked.
            logger.warning("Cannot check the failed-hello limit: Redis unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        if limited:
            await self._refuse(HelloError.RATE_LIMITED, CloseCode.TRY_AGAIN_LATER)
            return
        try:
            frame = loads(text)
        except FrameError:
            # Bad input as defined under "Bad input" (NaN, deep nesting, a lone
            # surrogate, the token included) refuses the hello like non-JSON.
            frame = None
        if not isinstance(frame, dict):
            await self._fail(
                address, HelloError.INVALID_HELLO, CloseCode.INVALID_HELLO, config
            )
            return
        if frame.get("op") != Op.HELLO:
            await self._fail(
                address, HelloError.MISSING_HELLO, CloseCode.MISSING_HELLO, config
            )
            return
        token = frame.get("token")
        has_token = isinstance(token, str) and bool(token)
        try:
            row = await self.token_checks.use(token) if has_token else None
        except DatabaseError:
            logger.warning("Cannot check an agent token: database unavailable")
            await self._refuse(HelloError.UNAVAILABLE, CloseCode.TRY_AGAIN_LATER)
            return
        if row is None and (has_token or config.WS_AUTH_REQUIRED):
            await self._fail(
                address, HelloError.UNAUTHORIZED, CloseCode.UNAUTHORIZED, config
            )
            return
        self.session = self.gateway.open_session(
            agent=agent_of(row) if row is not None else ANONYMOUS,
            transport=self,
            token_hash=token_hash(token) if has_token else None,
            client=client_label(frame.get("client")),
        )
        session_id_var.set(self.session.session_id)
        logger.info(
            "Agent %s connected (client %s)",
            self.session.agent.name,
            self.session.client or "-",
        )
        await self.send_frame(hello_ack(self.session.session_id, config))
