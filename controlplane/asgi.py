"""ASGI entry point: HTTP to Django, WebSocket through origin checks to bus.routing."""

from __future__ import annotations

import os
import sys

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
from bus.gateway.transports.origins import BrowserOriginValidator  # noqa: E402
from bus.routing import websocket_urlpatterns  # noqa: E402


def build_application(gateway: Gateway) -> ProtocolTypeRouter:
    """Return the ASGI application with its WebSocket consumers on this gateway."""
    return ProtocolTypeRouter(
        {
            # The admin's CSS/JS come from the installed apps; one process serves all.
            "http": ASGIStaticFilesHandler(django_asgi_app),
            # Agents authenticate in the hello frame (PROTOCOL.md), so the only
            # middleware is the check that keeps foreign browser pages out.
            "websocket": BrowserOriginValidator(
                URLRouter(websocket_urlpatterns(gateway))
            ),
        }
    )


application = build_application(bus_app().gateway)
