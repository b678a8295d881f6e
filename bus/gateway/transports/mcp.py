"""The MCP streamable HTTP transport at /mcp/ (PROTOCOL.md "MCP").

``McpEndpoint`` is the ASGI application that ``build_application`` mounts:
it checks the bearer token of every request, gives each client an MCP
session id, and hands the request to the official SDK's session manager,
whose server (``mcp_calls.McpCalls``) runs calls through the gateway.

Why the SDK runs stateless, with the session id given here: the SDK's
stateful sessions live in one process's memory, and the requests of one
client reach any worker of ``serve --workers`` (they share one socket, so
there is no affinity). In stateless mode every request is served on its own
by whichever worker accepts it. The session id is minted here, bound to the
agent with an HMAC of SECRET_KEY, and sent in ``Mcp-Session-Id`` on the
answer to a request that had none (the ``initialize``); the client sends it
back on every request, and any worker can check it. It is what makes
request ids unique per session and what the session limit counts. A session
ends with its client; there is nothing to clean up on the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INVALID_REQUEST
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from bus.gateway.client_address import client_address
from bus.gateway.hellos import hello_failed, hello_limited
from bus.gateway.pipeline import Gateway
from bus.gateway.revocation import CHECK_INTERVAL_SECS
from bus.gateway.sessions import ANONYMOUS, Agent
from bus.gateway.state.hello_failures import WINDOW_SECS
from bus.gateway.transports.frames import CLIENT_LABEL_CHARS, agent_of
from bus.gateway.transports.mcp_calls import CALLER_SCOPE_KEY, Caller, McpCalls
from bus.protocol import HelloError
from bus.store.claims import run_in_db_thread
from controlplane.config import Config, aget_config
from controlplane.tokens import agent_token_find, agent_token_use, token_hash

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# 96 bits; the whole id stays within the 64 characters a session id may have.
SIGNATURE_CHARS = 24


def _json_rpc_error(code: int, message: str, status: int, **headers: str) -> Response:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}},
        status_code=status,
        headers=headers or None,
    )


def _unauthorized() -> Response:
    # The OAuth 2.0 bearer-token answer (RFC 6750) that MCP clients expect.
    return JSONResponse(
        {
            "error": "invalid_token",
            "error_description": "a valid agent token is required "
            "(Authorization: Bearer <token>)",
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="mcp", error="invalid_token"'},
    )


class McpEndpoint:
    """ASGI application of /mcp/: bearer auth, session ids, the SDK's manager.

    The manager's task group is started by the first request and lives as
    long as the process: neither daphne nor ``serve``'s uvicorn runs an ASGI
    lifespan, and a lazy start works the same under both (and in tests that
    call the application in-process).
    """

    def __init__(
        self, gateway: Gateway, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self.calls = McpCalls(gateway)
        self._started: asyncio.Future[StreamableHTTPSessionManager] | None = None
        self._runner: asyncio.Task[None] | None = None
        # Agents of the tokens this worker verified, by token hash, with when
        # (`clock`, time.monotonic). A token checked within CHECK_INTERVAL_SECS is not
        # checked again: revocation reaches /mcp/ as fast as it closes a
        # WebSocket session, without a query per request. During a database
        # outage the last check holds. As large as the valid tokens that
        # reached this worker (operators create them; a wrong one is never
        # added), and a token found revoked or expired leaves it.
        self.verified: dict[str, tuple[Agent, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request of an MCP client."""
        config = await aget_config()
        headers = Headers(scope=scope)
        if scope["method"] == "GET":
            # Every message of a call goes on its POST's response stream; the
            # spec lets a server without server-initiated messages refuse GET.
            response = Response(status_code=405, headers={"Allow": "POST, DELETE"})
            await response(scope, receive, send)
            return
        caller = await self._authenticate(scope, headers, config)
        if isinstance(caller, Response):
            await caller(scope, receive, send)
            return
        await self._serve(caller, scope, receive, send, config)

    async def _serve(
        self,
        caller: Caller,
        scope: Scope,
        receive: Receive,
        send: Send,
        config: Config,
    ) -> None:
        manager = await self._manager(config)
        scope = {**scope, CALLER_SCOPE_KEY: caller}
        headers = Headers(scope=scope)
        if SESSION_HEADER in headers or _modern(headers):
            await manager.handle_request(scope, receive, send)
            return

        async def send_session_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (SESSION_HEADER.encode(), caller.session_id.encode()),
                    ],
                }
            await send(message)

        await manager.handle_request(scope, receive, send_session_id)

    async def _authenticate(
        self, scope: Scope, headers: Headers, config: Config
    ) -> Caller | Response:
        """Return the request's caller, or the response that refuses it."""
        address = client_address(scope, config.WS_TRUSTED_PROXIES)
        failures = self.gateway.hello_failures
        # The rule of failed hellos: a token guesser gains nothing by switching
        # from the WebSocket to /mcp/.
        if await hello_limited(failures=failures, address=address, config=config):
            return _json_rpc_error(
                INVALID_REQUEST,
                "too many failed authentications from this address; retry later",
                429,
                **{"Retry-After": str(int(WINDOW_SECS))},
            )
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        session_id = headers.get(SESSION_HEADER)
        digest = token_hash(token) if token else None
        try:
            agent = await self._agent(
                token, digest, new_session=session_id is None and not _modern(headers)
            )
        except DatabaseError:
            agent, _ = self.verified.get(digest or "", (None, 0.0))
            if agent is None:
                logger.warning("Cannot check an agent token: database unavailable")
                return _json_rpc_error(
                    INVALID_REQUEST,
                    "agent tokens cannot be checked right now; retry later",
                    503,
                    **{"Retry-After": str(config.WS_RETRY_AFTER_SECS)},
                )
            # As a WebSocket session stays open through an outage, an agent
            # whose token this worker verified keeps calling: nothing can
            # have revoked it where this worker could see.
            logger.warning(
                "Database unavailable: agent %s admitted on its last check", agent.name
            )
        if agent is None and (token or config.WS_AUTH_REQUIRED):
            await hello_failed(
                failures=failures,
                address=address,
                reason=HelloError.UNAUTHORIZED,
                config=config,
            )
            return _unauthorized()
        agent = agent or ANONYMOUS
        if _modern(headers):
            # A 2026-07-28 request is a session of its own: it carries no id.
            session_id = f"{uuid.uuid4().hex}.modern"
        elif session_id is None:
            session_id = _new_session_id(agent.key)
        elif not _session_id_valid(session_id, agent.key):
            # What the SDK answers for a session it does not know.
            return _json_rpc_error(INVALID_REQUEST, "Session not found", 404)
        return Caller(
            agent=agent,
            token_hash=digest,
            session_id=session_id,
            client=headers.get("user-agent", "")[:CLIENT_LABEL_CHARS],
        )

    async def _agent(
        self, token: str, digest: str | None, *, new_session: bool
    ) -> Agent | None:
        """Return the token's agent, None if unknown, revoked or expired; raise
        DatabaseError when it cannot be checked."""
        if digest is None:
            return None
        agent, checked_at = self.verified.get(digest, (None, 0.0))
        now = self.clock()
        if agent is not None and not new_session:
            if now - checked_at < CHECK_INTERVAL_SECS:
                return agent
        # A new session records the token's use, as a hello does, and so does
        # a token new to this worker (a 2026-07-28 client opens no session);
        # the requests of a session only check it.
        check = agent_token_use if new_session or agent is None else agent_token_find
        row = await run_in_db_thread(check, token)
        if row is None:
            self.verified.pop(digest, None)
            return None
        agent = agent_of(row)
        self.verified[digest] = (agent, now)
        return agent

    async def _manager(self, config: Config) -> StreamableHTTPSessionManager:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(config))
        return await asyncio.shield(self._started)

    async def _run(self, config: Config) -> None:
        assert self._started is not None
        manager = StreamableHTTPSessionManager(
            app=self.calls.server,
            stateless=True,
            # A call's arguments may be as large as a WebSocket message.
            max_request_body_size=config.WS_MAX_MESSAGE_BYTES,
        )
        try:
            async with manager.run():
                self._started.set_result(manager)
                # Until the event loop ends with the process, which cancels
                # this task: the manager's task group holds every request.
                await asyncio.get_running_loop().create_future()
        except Exception as exc:
            logger.exception("The MCP session manager stopped")
            if not self._started.done():
                self._started.set_exception(exc)
            raise


def _modern(headers: Headers) -> bool:
    return headers.get(PROTOCOL_VERSION_HEADER) in MODERN_PROTOCOL_VERSIONS


def _signature(agent_key: str, nonce: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"mcp-session:{agent_key}:{nonce}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return digest[:SIGNATURE_CHARS]


def _new_session_id(agent_key: str) -> str:
    nonce = uuid.uuid4().hex
    return f"{nonce}.{_signature(agent_key, nonce)}"


def _session_id_valid(session_id: str, agent_key: str) -> bool:
    nonce, _, signature = session_id.partition(".")
    return bool(nonce) and hmac.compare_digest(
        signature.encode(), _signature(agent_key, nonce).encode()
    )
