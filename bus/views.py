"""Bus HTTP views: fetch and release a claim check, operator download, overview."""

import logging
from collections.abc import AsyncIterator

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from bus import claims, selectors, services
from bus.exceptions import BusError, BusUnavailableError, MessageNotFoundError
from bus.models import Message
from controlplane.config import get_config
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_find

logger = logging.getLogger(__name__)

HTTP_STATUS = {
    "NOT_FOUND": 404,
    "EXPIRED": 410,
    "CHECKSUM_MISMATCH": 500,
    "BUS_UNAVAILABLE": 503,
}
STREAM_PIECE_BYTES = 1024 * 1024
OVERVIEW_DAYS = 14
OVERVIEW_EVENTS = 15
CHART_WIDTH, CHART_HEIGHT, CHART_LABEL_HEIGHT = 560, 160, 18


# Agents authenticate with a Bearer token, never a cookie, so there is no
# cross-site request to forge; DELETE must work without a CSRF token.
@csrf_exempt
@require_http_methods(["GET", "DELETE"])
async def message(request: HttpRequest, transaction_id: str) -> HttpResponse:
    """Stream the agent's stored result (GET) or release it (DELETE)."""
    try:
        agent = await _bearer_agent(request)
    except DatabaseError:
        logger.warning("Cannot check an agent token: database error", exc_info=True)
        return _error(BusUnavailableError("the message bus database is unavailable"))
    if agent is None:
        response = JsonResponse(
            {"error": {"code": "UNAUTHORIZED", "message": "a valid token is required"}},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="bus"'
        return response
    try:
        if request.method == "DELETE":
            await claims.payload_release(agent=agent, transaction_id=transaction_id)
            return HttpResponse(status=204)
        payload = await claims.payload_fetch(agent=agent, transaction_id=transaction_id)
    except BusError as exc:
        return _error(exc)
    return _payload_response(payload)


@staff_member_required
@permission_required("bus.view_message", raise_exception=True)
@require_GET
async def admin_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Stream a stored payload to an operator as a JSON attachment."""
    transaction_id = (
        await Message.objects.filter(pk=pk)
        .values_list("transaction_id", flat=True)
        .afirst()
    )
    if transaction_id is None:
        return _error(MessageNotFoundError(f"no message #{pk}"))
    try:
        payload = await claims.run_in_db_thread(
            services.message_fetch,
            transaction_id=transaction_id,
            agent=None,
            operator=True,
        )
    except BusError as exc:
        return _error(exc)
    response = _payload_response(payload)
    response["Content-Disposition"] = f'attachment; filename="{transaction_id}.json"'
    return response


@staff_member_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Show counts, bytes, compression ratio, breaker state and a daily chart."""
    stats = selectors.bus_overview(days=OVERVIEW_DAYS, recent=OVERVIEW_EVENTS)
    context = {
        **admin.site.each_context(request),
        "title": "Message bus overview",
        "stats": stats,
        "bars": _bars(stats.daily),
        "chart": {
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT + CHART_LABEL_HEIGHT,
            "baseline": CHART_HEIGHT,
        },
        "breaker": claims.breaker_state(),
        "config": get_config(),
    }
    return render(request, "bus/overview.html", context)


async def _bearer_agent(request: HttpRequest) -> AgentToken | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await claims.run_in_db_thread(agent_token_find, token.strip())


def _payload_response(payload: services.FetchedPayload) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_stream(payload), content_type="application/json")
    response["Content-Length"] = str(payload.size_bytes)
    response["X-Checksum-SHA256"] = payload.checksum
    response["Cache-Control"] = "no-store"
    return response


async def _stream(payload: services.FetchedPayload) -> AsyncIterator[bytes]:
    for piece in payload.pieces(STREAM_PIECE_BYTES):
        yield bytes(piece)


def _error(exc: BusError) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": exc.code, "message": str(exc)}},
        status=HTTP_STATUS.get(exc.code, 500),
    )


def _bars(daily: list[selectors.DayStats]) -> list[dict]:
    """Lay out one SVG bar per day, scaled to the busiest day."""
    peak = max((day.stored for day in daily), default=0) or 1
    slot = CHART_WIDTH / max(len(daily), 1)
    bars = []
    for index, day in enumerate(daily):
        height = round(CHART_HEIGHT * day.stored / peak, 1)
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(slot * 0.7, 1),
                "height": height,
                "label_x": round(index * slot + slot / 2, 1),
                "day": day.day,
                "stored": day.stored,
                "payload_bytes": day.payload_bytes,
            }
        )
    return bars
