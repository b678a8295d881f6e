"""ASGI entry point: HTTP to Django (and /mcp/ to the MCP endpoint), WebSocket
through origin checks to bus.routing."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

from controlplane.exceptions import ConfigError  # noqa: E402

try:
    django_asgi_app = get_asgi_application()
except ConfigError as exc:
    # Servers started without manage.py (plain daphne/uvicorn) fail as clearly.
    sys.stderr.write(f"{exc}\n")
    raise SystemExit(2) from exc

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from bus.apps import bus_app  # noqa: E402
from bus.gateway.pipeline import Gateway  # noqa: E402
from bus.gateway.transports.mcp import McpEndpoint  # noqa: E402
from bus.gateway.transports.origins import BrowserOriginValidator  # noqa: E402
from bus.routing import websocket_urlpatterns  # noqa: E402
from bus.store.http_fetch import BusFetchMount  # noqa: E402

MCP_PATHS = frozenset({"/mcp", "/mcp/"})


class McpMount:
    """HTTP: /mcp/ (and /mcp) to the MCP endpoint, everything else to Django."""

    def __init__(self, mcp: McpEndpoint, django: Any) -> None:
        self.mcp, self.django = mcp, django

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self.mcp if scope["path"] in MCP_PATHS else self.django
        await app(scope, receive, send)


def build_application(gateway: Gateway) -> ProtocolTypeRouter:
    """Return the ASGI application with its WebSocket and MCP transports on this
    gateway."""
    mcp = McpEndpoint(gateway)
    return ProtocolTypeRouter(
        {
            # The admin's CSS/JS come from the installed apps; one process serves
            # all. Agents' bus fetches skip Django's request handling.
            "http": McpMount(
                mcp,
                BusFetchMount(gateway.claims, ASGIStaticFilesHandler(django_asgi_app)),
            ),
            # Agents authenticate in the hello frame (PROTOCOL.md), so the only
            # middleware is the check that keeps foreign browser pages out.
            "websocket": BrowserOriginValidator(
                URLRouter(websocket_urlpatterns(gateway))
            ),
        }
    )


application = build_application(bus_app().gateway)
