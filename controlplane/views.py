"""Liveness, readiness and Prometheus endpoints for orchestrators and monitoring,
and the admin home's refreshing state panel."""

import hmac

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.module_loading import import_string
from health_check.exceptions import ServiceWarning
from health_check.views import HealthCheckView
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from controlplane.config import get_config
from controlplane.dashboard import dashboard_state

BEARER = "bearer"

ALL_CHECKS = (
    "health_check.checks.Database",
    "health_check.checks.Cache",
    "controlplane.health.Migrations",
    "health_check.checks.Storage",
    "bus.store.health.MessageBusBreaker",
)
# Checks that come and go with rows: each names an async function returning the
# checks of now (one per upstream MCP server).
CHECK_GROUPS = ("bus.gateway.upstreams.health.upstream_checks",)
READY_CHECKS = (
    "health_check.checks.Database",
    "health_check.checks.Cache",
    "controlplane.health.Migrations",
)


async def live(request: HttpRequest) -> JsonResponse:
    """Answer whenever the process serves requests; checks no dependency."""
    return JsonResponse({"status": "ok"})


class HealthView(HealthCheckView):
    """Show every check; only failures answer 500, warnings show with a 200.

    A warning (the bus breaker open, say) is degraded service that still
    answers calls; a monitor that restarted the process on it would make
    things worse.
    """

    checks = ALL_CHECKS

    async def get(self, request: HttpRequest, *args: object, **kwargs: object):  # type: ignore[override]
        self.grouped = [
            check for group in CHECK_GROUPS for check in await import_string(group)()
        ]
        return await super().get(request, *args, **kwargs)

    def get_checks(self):  # type: ignore[override]
        yield from super().get_checks()
        yield from self.grouped

    def _status(self, status: int) -> int:
        failed = [result.error for result in self.results if result.error]
        if failed and all(isinstance(error, ServiceWarning) for error in failed):
            return 200
        return status

    def render_to_response_json(self, status: int) -> JsonResponse:
        return super().render_to_response_json(self._status(status))

    def render_to_response_text(self, status: int) -> HttpResponse:
        return super().render_to_response_text(self._status(status))

    def render_to_response(self, context: dict, **kwargs: object):  # type: ignore[override]
        if "status" in kwargs:
            kwargs["status"] = self._status(kwargs["status"])
        return super().render_to_response(context, **kwargs)


class ReadyView(HealthCheckView):
    """Answer 200 only when the database, cache and schema are usable (else 503)."""

    checks = READY_CHECKS

    def render_to_response_json(self, status: int) -> JsonResponse:
        return super().render_to_response_json(503 if status != 200 else 200)

    def render_to_response(self, context: dict, **kwargs: object):  # type: ignore[override]
        if kwargs.get("status") not in (None, 200):
            kwargs["status"] = 503
        return super().render_to_response(context, **kwargs)


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    """Return True when the request's Authorization header is `Bearer <token>`."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes as long for a near miss as for a wrong first byte.
    return scheme.lower() == BEARER and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """Expose the Prometheus metrics in the text format, behind METRICS_TOKEN if set."""
    token = get_config().METRICS_TOKEN
    if token and not _bearer_matches(request, token):
        refused = HttpResponse(
            "401 Unauthorized: /metrics needs Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Render the admin home's state panel alone, for the page to refresh itself."""
    return render(request, "admin/dashboard.html", {"d": dashboard_state()})
