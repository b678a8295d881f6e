"""WebSocket routes of the agent gateway: the canonical /ws/ and the bare host:port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import URLPattern, re_path

from bus.gateway.token_checks import TokenChecks
from bus.gateway.transports.websocket import AgentConsumer

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway


def websocket_urlpatterns(gateway: Gateway) -> list[URLPattern]:
    """Return the WebSocket routes, every consumer bound to this gateway."""
    consumer = AgentConsumer.as_asgi(gateway=gateway, token_checks=TokenChecks())
    return [re_path(r"^ws/?$", consumer), re_path(r"^$", consumer)]
