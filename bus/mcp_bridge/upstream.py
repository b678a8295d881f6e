"""The bridge's connection to the gateway: PROTOCOL.md's WebSocket, kept alive.

One connection, opened with a hello and reopened with backoff whenever it
drops. Replies are routed by request id (calls, cancels) or transaction id
(bus fetches) to whoever waits for them. What was in flight when the
connection dropped is sent again after the next hello, with the same
request id: the gateway replays a result it still has, joins a call that
still runs, or runs it again after a restart. Django-free on purpose: the
bridge runs next to an MCP client, without the project's settings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bus.protocol import (
    SERVER_VERSION,
    SHUTDOWN_CANCEL_MESSAGE,
    UNAUTHORIZED,
    ErrorCode,
    HelloError,
    Op,
)

logger = logging.getLogger(__name__)

CLIENT_NAME = "mcp_bridge"
INITIAL_BACKOFF_SECS = 0.25
# Replies of the gateway that belong to a call, by their op.
CALL_OPS = frozenset({Op.CALL_TOOL_ACK, Op.PROGRESS, Op.CALL_TOOL_RES})
# Called with each call_tool_ack and progress frame of a call.
Progress = Callable[[dict[str, Any]], Awaitable[None]]


class TryLater(Exception):
    """The gateway could not take a session now (database down, rate limited)."""


class BridgeError(Exception):
    """A call could not be answered by the gateway; `code` is a protocol code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Settings:
    """How the bridge reaches the gateway and how hard it tries."""

    url: str
    token: str
    capacity_retries: int
    reconnect_max_secs: float
    open_timeout_secs: float


@dataclass(eq=False)
class Pending:
    """A request waiting for replies; `frame` is what (re)sending it sends."""

    frame: dict[str, Any]
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


class Upstream:
    """The gateway as the bridge sees it: list, call, cancel, fetch, ack."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ws: ClientConnection | None = None
        self.refused: BridgeError | None = None
        self.calls: dict[str, Pending] = {}
        self.fetches: dict[str, Pending] = {}
        self.listings: list[Pending] = []
        self.cancels: list[str] = []

    # The connection

    async def run(self) -> None:
        """Keep a session open until cancelled; reconnect with backoff."""
        try:
            await self._connect_until_refused()
        except Exception as exc:
            # The connection's boundary: without it every waiting call would
            # hang; they all get the failure instead, and it is logged once.
            logger.exception("The gateway connection failed")
            self._refuse(BridgeError(ErrorCode.EXEC_ERROR, f"bridge failure: {exc}"))

    async def _connect_until_refused(self) -> None:
        backoff = INITIAL_BACKOFF_SECS
        while self.refused is None:
            try:
                async with connect(
                    self.settings.url,
                    max_size=None,
                    open_timeout=self.settings.open_timeout_secs,
                ) as ws:
                    if not await self._hello(ws):
                        return
                    backoff = INITIAL_BACKOFF_SECS
                    await self._serve(ws)
                    logger.warning("The gateway closed the connection; reconnecting")
            except (
                OSError,
                InvalidHandshake,
                ConnectionClosed,
                TimeoutError,
                TryLater,
            ) as exc:
                # The gateway is down or restarting: in-flight requests wait
                # and are sent again once it is back.
                logger.warning(
                    "Gateway %s unreachable (%s); retrying in %.2gs",
                    self.settings.url,
                    type(exc).__name__,
                    backoff,
                )
            except InvalidURI as exc:
                self._refuse(BridgeError(ErrorCode.EXEC_ERROR, f"bad --url: {exc}"))
                return
            finally:
                self.ws = None
            if self.refused is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_secs)

    async def _hello(self, ws: ClientConnection) -> bool:
        """Open the session; False when the gateway refuses the token for good."""
        await ws.send(
            json.dumps(
                {
                    "op": Op.HELLO,
                    "token": self.settings.token,
                    "client": {"name": CLIENT_NAME, "version": SERVER_VERSION},
                }
            )
        )
        ack = json.loads(await ws.recv())
        if ack.get("ok") is True:
            logger.info(
                "Connected to %s (session %s)", self.settings.url, ack["session_id"]
            )
            return True
        error = ack.get("error")
        if error in (HelloError.UNAVAILABLE, HelloError.RATE_LIMITED):
            raise TryLater(error)
        self._refuse(
            BridgeError(UNAUTHORIZED, f"the gateway refused the token ({error})")
        )
        return False

    def _refuse(self, error: BridgeError) -> None:
        # Nothing a retry can fix: every waiting and later request gets it.
        logger.error("Giving up on %s: %s", self.settings.url, error)
        self.refused = error
        for pending in [*self.calls.values(), *self.fetches.values(), *self.listings]:
            pending.replies.put_nowait({"op": "refused"})

    async def _serve(self, ws: ClientConnection) -> None:
        self.ws = ws
        # Cancels first, so a call cancelled while disconnected is not resumed.
        for request_id in self.cancels:
            await ws.send(json.dumps({"op": Op.CANCEL, "request_id": request_id}))
        self.cancels.clear()
        for pending in [*self.calls.values(), *self.fetches.values(), *self.listings]:
            if pending.frame["op"] == Op.BUS_FETCH:
                pending.replies.put_nowait({"op": "restarted"})
            await ws.send(json.dumps(pending.frame))
        async for raw in ws:
            self._route(json.loads(raw))

    def _route(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        pending: Pending | None = None
        if op in CALL_OPS:
            pending = self.calls.get(frame.get("request_id", ""))
        elif op in (Op.BUS_CHUNK, Op.BUS_FETCH_RES):
            pending = self.fetches.get(frame.get("transaction_id", ""))
        elif op == Op.LIST_TOOLS_RES and self.listings:
            pending = self.listings[0]
        elif op == Op.ERROR:
            logger.warning(
                "The gateway answered %s: %s", frame.get("code"), frame.get("message")
            )
        if pending is not None:
            pending.replies.put_nowait(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        """Send now if connected; otherwise the next hello sends what is pending."""
        if self.refused is not None:
            raise self.refused
        if self.ws is None:
            return
        try:
            await self.ws.send(json.dumps(frame))
        except ConnectionClosed:
            # The reconnect resends it: it is registered as pending.
            logger.info("Connection lost while sending %s; it is resent", frame["op"])

    async def _next(self, pending: Pending) -> dict[str, Any]:
        reply = await pending.replies.get()
        if reply["op"] == "refused":
            assert self.refused is not None
            raise self.refused
        return reply

    # Operations

    async def list_tools(self) -> list[dict[str, Any]]:
        """Return the gateway's tool listings for this agent."""
        pending = Pending({"op": Op.LIST_TOOLS})
        self.listings.append(pending)
        try:
            await self._send(pending.frame)
            return (await self._next(pending))["tools"]
        finally:
            self.listings.remove(pending)

    @staticmethod
    def new_request_id() -> str:
        """Return a request id of this bridge's own, for call and cancel."""
        return f"bridge-{uuid.uuid4().hex}"

    async def call(
        self,
        request_id: str,
        name: str,
        arguments: dict[str, Any],
        on_progress: Progress,
    ) -> dict[str, Any]:
        """Run a call and return its call_tool_res, a bus result fetched in full.

        OVER_CAPACITY is retried after its retry_after, at most
        `capacity_retries` times. A caller that is cancelled calls `cancel`.
        """
        frame = {
            "op": Op.CALL_TOOL,
            "name": name,
            "request_id": request_id,
            "arguments": arguments,
        }
        for attempt in range(self.settings.capacity_retries + 1):
            result = await self._attempt(Pending(frame), on_progress)
            error = result.get("error") or {}
            if error.get("code") != ErrorCode.OVER_CAPACITY:
                break
            if attempt < self.settings.capacity_retries:
                logger.info(
                    "%s is over capacity (%s); retry %d in %ss",
                    name,
                    error.get("scope"),
                    attempt + 1,
                    error.get("retry_after"),
                )
                await asyncio.sleep(float(error.get("retry_after", 1)))
        if "bus" in result:
            result = {"outputs": await self.fetch(result["bus"])}
        return result

    async def _attempt(self, pending: Pending, on_progress: Progress) -> dict[str, Any]:
        request_id = pending.frame["request_id"]
        self.calls[request_id] = pending
        try:
            await self._send(pending.frame)
            while True:
                reply = await self._next(pending)
                if _interrupted(reply):
                    # The gateway is stopping (a restart): the connection
                    # drops next, and the reconnect sends the call again.
                    logger.info("%s was interrupted by a gateway shutdown", request_id)
                    continue
                if reply["op"] == Op.CALL_TOOL_RES:
                    return reply
                # The ack too: progress counts from when the call was accepted.
                await on_progress(reply)
        finally:
            self.calls.pop(request_id, None)

    async def cancel(self, request_id: str) -> None:
        """Cancel a call: now, or right after the next hello when disconnected."""
        self.calls.pop(request_id, None)
        self.cancels.append(request_id)
        if self.ws is None:
            return
        try:
            await self.ws.send(json.dumps({"op": Op.CANCEL, "request_id": request_id}))
        except ConnectionClosed:
            logger.info("Connection lost while cancelling %s; resent", request_id)
            return
        if request_id in self.cancels:
            # A reconnect may have sent (and cleared) it meanwhile.
            self.cancels.remove(request_id)

    async def fetch(self, bus: dict[str, Any]) -> list[dict[str, Any]]:
        """Return a bus result's outputs: chunks joined, SHA-256 checked, then acked."""
        transaction_id = bus["transaction_id"]
        pending = Pending({"op": Op.BUS_FETCH, "transaction_id": transaction_id})
        self.fetches[transaction_id] = pending
        try:
            await self._send(pending.frame)
            data = await self._chunks(pending)
        finally:
            self.fetches.pop(transaction_id, None)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest != bus["checksum"]:
            raise BridgeError(
                ErrorCode.CHECKSUM_MISMATCH,
                f"bus result {transaction_id} does not match its checksum",
            )
        await self._ack(transaction_id)
        return json.loads(data)["outputs"]

    async def _chunks(self, pending: Pending) -> bytes:
        pieces: dict[int, bytes] = {}
        while True:
            reply = await self._next(pending)
            if reply["op"] == "restarted":
                # Sent again after a reconnect: the chunks come again from 0.
                pieces.clear()
            elif reply["op"] == Op.BUS_CHUNK:
                pieces[reply["seq"]] = base64.b64decode(reply["data"])
            elif "error" in reply:
                raise BridgeError(reply["error"]["code"], reply["error"]["message"])
            else:
                if len(pieces) != reply["chunks"]:
                    raise BridgeError(
                        ErrorCode.EXEC_ERROR,
                        f"got {len(pieces)} of {reply['chunks']} chunks",
                    )
                return b"".join(pieces[seq] for seq in sorted(pieces))

    async def _ack(self, transaction_id: str) -> None:
        # Releasing early is a courtesy: the TTL purge removes it anyway, so a
        # lost connection here costs nothing but storage until then.
        if self.ws is None:
            return
        try:
            await self.ws.send(
                json.dumps({"op": Op.BUS_ACK, "transaction_id": transaction_id})
            )
        except ConnectionClosed:
            logger.info(
                "Connection lost before acking %s; the TTL purges it", transaction_id
            )


def _interrupted(reply: dict[str, Any]) -> bool:
    """Return whether a reply is the CANCELLED of a gateway that shuts down."""
    error = reply.get("error") or {}
    return (
        reply["op"] == Op.CALL_TOOL_RES
        and error.get("code") == ErrorCode.CANCELLED
        and error.get("message") == SHUTDOWN_CANCEL_MESSAGE
    )
