"""The agent WebSocket's operations after the hello, one handler per op.

Each handler parses its frame, calls the gateway once and answers with the
op's reply frame (PROTOCOL.md). ``AgentConsumer`` (``websocket``) takes this as
a mixin and routes frames to these handlers by its op table.
"""

from __future__ import annotations

import base64
import hmac
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError

from bus.exceptions import BusError
from bus.gateway.attempt import state_unreachable
from bus.gateway.pipeline import Gateway
from bus.gateway.sessions import Session
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.transports.frames import bus_error
from bus.protocol import (
    Op,
    RotateError,
    invalid,
    parse_call,
    parse_cancel,
    parse_transaction_id,
)
from controlplane.config import aget_config
from controlplane.exceptions import TokenMismatchError, WeakTokenError
from controlplane.tokens import agent_token_rotate, token_hash

logger = logging.getLogger(__name__)

# bus_chunk frames carry at most this much of a payload, so that each frame
# fits the 1 MiB that most WebSocket clients and servers accept by default.
CHUNK_BYTES = 512 * 1024


class Operations:
    """What an authenticated connection can ask, as PROTOCOL.md lists it."""

    gateway: Gateway
    session: Session

    async def op_hello(self, frame: dict[str, Any], received_at: float) -> None:
        """Refuse a second hello on an authenticated connection."""
        raise invalid("hello was already accepted on this connection")

    async def op_list_tools(self, frame: dict[str, Any], received_at: float) -> None:
        """List the enabled tools this agent may call."""
        tools = await self.gateway.list_tools(self.session)
        await self.send_frame({"op": Op.LIST_TOOLS_RES, "tools": tools})

    async def op_call_tool(self, frame: dict[str, Any], received_at: float) -> None:
        """Validate a call and hand it to the gateway's pipeline."""
        request = parse_call(frame)
        await self.gateway.call_tool(self.session, request, received_at)

    async def op_cancel(self, frame: dict[str, Any], received_at: float) -> None:
        """Cancel one of this agent's calls in flight."""
        request_id = parse_cancel(frame)
        reply = {"op": Op.CANCEL_RES, "request_id": request_id}
        try:
            ok = await self.gateway.cancel(self.session, request_id)
        except OUTAGE_ERRORS:
            # Whether the call runs cannot be known: not ok, and why, so that
            # the client can cancel again once the shared state is back.
            logger.warning("Cancel of %s failed", request_id, exc_info=True)
            unreachable = state_unreachable(await aget_config())
            await self.send_frame({**reply, "ok": False, **unreachable})
            return
        await self.send_frame({**reply, "ok": ok})

    async def op_health(self, frame: dict[str, Any], received_at: float) -> None:
        """Report this server's health snapshot."""
        health = await self.gateway.health()
        await self.send_frame({"op": Op.HEALTH_RES, "ok": True, "health": health})

    async def op_bus_fetch(self, frame: dict[str, Any], received_at: float) -> None:
        """Stream a stored result of this agent in chunks, then bus_fetch_res."""
        transaction_id = parse_transaction_id(frame)
        try:
            payload = await self.gateway.claims.fetch(
                agent_id=self.session.agent.id,
                transaction_id=transaction_id,
                config=await aget_config(),
            )
        except BusError as exc:
            await self.send_frame(bus_error(Op.BUS_FETCH_RES, transaction_id, exc))
            return
        chunks = 0
        for piece in payload.pieces(CHUNK_BYTES):
            await self.send_frame(
                {
                    "op": Op.BUS_CHUNK,
                    "transaction_id": transaction_id,
                    "seq": chunks,
                    "data": base64.b64encode(piece).decode("ascii"),
                }
            )
            chunks += 1
        await self.send_frame(
            {
                "op": Op.BUS_FETCH_RES,
                "transaction_id": transaction_id,
                "chunks": chunks,
                "size_bytes": payload.size_bytes,
                "checksum": f"sha256:{payload.checksum}",
            }
        )

    async def op_bus_ack(self, frame: dict[str, Any], received_at: float) -> None:
        """Release a stored result of this agent now (the TTL purge is the backstop)."""
        transaction_id = parse_transaction_id(frame)
        try:
            await self.gateway.claims.release(
                agent_id=self.session.agent.id,
                transaction_id=transaction_id,
                config=await aget_config(),
            )
        except BusError as exc:
            reply = {**bus_error(Op.BUS_ACK_RES, transaction_id, exc), "ok": False}
            await self.send_frame(reply)
            return
        await self.send_frame(
            {"op": Op.BUS_ACK_RES, "transaction_id": transaction_id, "ok": True}
        )

    async def op_rotate_token(self, frame: dict[str, Any], received_at: float) -> None:
        """Replace this agent's token; the old one stops working for new hellos."""
        error = await self._rotate(frame.get("old"), frame.get("new"))
        reply: dict[str, Any] = {"op": Op.ROTATE_TOKEN_RES, "ok": error is None}
        if error is not None:
            reply["error"] = error
        await self.send_frame(reply)

    async def _rotate(self, old: Any, new: Any) -> str | None:
        if not (isinstance(old, str) and old and isinstance(new, str) and new):
            return RotateError.MISSING_PARAMS
        session = self.session
        if (
            session.agent.id is None
            or session.token_hash is None
            or not hmac.compare_digest(session.token_hash, token_hash(old))
        ):
            return RotateError.UNAUTHORIZED
        try:
            await database_sync_to_async(agent_token_rotate)(
                agent_id=session.agent.id, old_token=old, new_token=new
            )
        except TokenMismatchError:
            return RotateError.UNAUTHORIZED
        except WeakTokenError:
            return RotateError.WEAK_TOKEN
        except DatabaseError:
            logger.warning("Cannot rotate an agent token: database unavailable")
            return RotateError.UNAVAILABLE
        session.token_hash = token_hash(new)
        logger.info("Agent %s rotated its token", session.agent.name)
        return None
