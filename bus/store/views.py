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

from bus.apps import bus_app
from bus.exceptions import BusError, BusUnavailableError, MessageNotFoundError
from bus.models import Message
from bus.protocol import UNAUTHORIZED, error_body, http_status
from bus.store import display, selectors, services
from bus.store.claims import run_in_db_thread
from bus.store.http_fetch import STREAM_PIECE_BYTES, payload_headers
from controlplane.charts import BarChart, bar_chart
from controlplane.config import aget_config, get_config
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_find
from controlplane.units import format_bytes

logger = logging.getLogger(__name__)

OVERVIEW_DAYS = 14
OVERVIEW_EVENTS = 15
BAR_COLOUR = "#417690"


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
            error_body(UNAUTHORIZED, "a valid token is required"),
            status=http_status(UNAUTHORIZED),
        )
        response["WWW-Authenticate"] = 'Bearer realm="bus"'
        return response
    claims, config = bus_app().claims, await aget_config()
    try:
        if request.method == "DELETE":
            await claims.release(
                agent_id=agent.pk, transaction_id=transaction_id, config=config
            )
            return HttpResponse(status=204)
        payload = await claims.fetch(
            agent_id=agent.pk, transaction_id=transaction_id, config=config
        )
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
        payload = await bus_app().claims.operator_fetch(
            transaction_id=transaction_id,
            operator=(await request.auser()).get_username(),
            config=await aget_config(),
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
        "events": [
            {
                "event": event,
                "transaction": display.event_transaction(event),
                "actor": display.event_actor(event),
                "detail": display.event_detail(event),
            }
            for event in stats.recent_events
        ],
        "chart": _daily_chart(stats.daily),
        "breaker": bus_app().claims.breaker_state,
        "config": get_config(),
    }
    return render(request, "bus/overview.html", context)


async def _bearer_agent(request: HttpRequest) -> AgentToken | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await run_in_db_thread(agent_token_find, token.strip())


def _payload_response(payload: services.FetchedPayload) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_stream(payload), content_type="application/json")
    for name, value in payload_headers(payload).items():
        response[name] = value
    return response


async def _stream(payload: services.FetchedPayload) -> AsyncIterator[bytes]:
    for piece in payload.pieces(STREAM_PIECE_BYTES):
        yield bytes(piece)


def _error(exc: BusError) -> JsonResponse:
    return JsonResponse(error_body(exc.code, str(exc)), status=http_status(exc.code))


def _daily_chart(daily: list[selectors.DayStats]) -> BarChart:
    """Chart the results stored per day, dates in full, the bytes in each caption."""
    span = f", {daily[0].day:%Y-%m-%d} to {daily[-1].day:%Y-%m-%d}" if daily else ""
    # "Dec 01" labels are unique while OVERVIEW_DAYS stays under a year.
    return bar_chart(
        f"Results stored per day (last {len(daily)} days{span})",
        [(f"{day.day:%b %d}", day.stored) for day in daily],
        orientation="vertical",
        colour=BAR_COLOUR,
        captions={
            f"{day.day:%b %d}": f"{day.day:%Y-%m-%d}: {day.stored} stored, "
            f"{format_bytes(day.payload_bytes)}"
            for day in daily
        },
        value_axis="results stored",
        label_axis="day (UTC)",
    )
