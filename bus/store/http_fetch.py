"""GET /bus/<txn>/ for agents, answered without Django's request handling.

Django's ASGI handler costs about 4 ms per request before the view runs: the
request_started and request_finished signals, and the session, auth and
messages middleware, each reach the one thread that runs sync code, one hop
after another. A claim-check fetch needs none of it: this endpoint answers an
agent's GET with a bearer token itself, with the token check and the fetch in
one worker-thread hop, and with the headers Django would add: its own
SecurityMiddleware, CommonMiddleware and XFrameOptionsMiddleware, and the
request id, are applied to the response. Whatever it does not answer goes on
to Django unchanged, which answers exactly as before: other methods (DELETE,
405s), other paths, a malformed transaction id, a missing or unusable token
(401), a host not in ALLOWED_HOSTS (400), an HTTPS redirect.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response

from bus.exceptions import BusError
from bus.protocol import error_body, http_status
from bus.store import payload_io, services
from bus.store.claims import ClaimStore
from controlplane.config import aget_config
from controlplane.logconfig import RequestIdMiddleware

logger = logging.getLogger(__name__)

FETCH_PATH = re.compile(rf"/bus/({payload_io.TRANSACTION_ID.pattern})/")
STREAM_PIECE_BYTES = 1024 * 1024


class _NotHandled(Exception):
    """This request is Django's to answer (an unusable token)."""


class _PayloadResponse(HttpResponse):
    """A fetched payload's response: its headers here, its body streamed by _send."""

    def __init__(self, payload: services.FetchedPayload) -> None:
        super().__init__(content_type="application/json")
        for name, value in payload_headers(payload).items():
            self[name] = value
        self.payload = payload


def payload_headers(payload: services.FetchedPayload) -> dict[str, str]:
    """Return the headers of a served payload (here and in the Django views)."""
    return {
        "Content-Length": str(payload.size_bytes),
        "X-Checksum-SHA256": payload.checksum,
        "Cache-Control": "no-store",
    }


def _unused_get_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the middleware's request and response hooks run")


class BusFetchMount:
    """HTTP: an agent's GET /bus/<txn>/ to the claim store, everything else on."""

    def __init__(self, claims: ClaimStore, django: Any) -> None:
        self.claims, self.django = claims, django
        self.security = SecurityMiddleware(_unused_get_response)
        self.common = CommonMiddleware(_unused_get_response)
        self.frame_options = XFrameOptionsMiddleware(_unused_get_response)
        self.respond = RequestIdMiddleware(self._respond)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = (
            FETCH_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "GET"
            else None
        )
        request = _agent_request(scope) if found else None
        if request is None or self.security.process_request(request) is not None:
            await self.django(scope, receive, send)
            return
        request.transaction_id = found[1]
        try:
            response = await self.respond(request)
        except _NotHandled:
            await self.django(scope, receive, send)
            return
        await _send(response, send)

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse
        try:
            payload = await self.claims.fetch_with_token(
                token=request.bearer_token,
                transaction_id=request.transaction_id,
                config=await aget_config(),
            )
        except BusError as exc:
            response = JsonResponse(
                error_body(exc.code, str(exc)), status=http_status(exc.code)
            )
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=response,
                request=request,
            )
        else:
            if payload is None:
                raise _NotHandled
            response = _PayloadResponse(payload)
        # In MIDDLEWARE's order, backwards, as Django's handler applies them.
        self.frame_options.process_response(request, response)
        self.common.process_response(request, response)
        self.security.process_response(request, response)
        return response


def _agent_request(scope: dict[str, Any]) -> HttpRequest | None:
    """Return the request when it carries a bearer token and an allowed host."""
    request = ASGIRequest(scope, io.BytesIO())
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        request.get_host()
    except DisallowedHost:
        # Django answers it (400) and logs it on django.security, as always.
        return None
    request.bearer_token = token.strip()
    return request


async def _send(response: HttpResponse, send: Any) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.items()
    ]
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": headers,
        }
    )
    if not isinstance(response, _PayloadResponse):
        await send({"type": "http.response.body", "body": response.content})
        return
    for piece in response.payload.pieces(STREAM_PIECE_BYTES):
        await send(
            {"type": "http.response.body", "body": bytes(piece), "more_body": True}
        )
    await send({"type": "http.response.body", "body": b""})
