from django.apps import AppConfig


class BusConfig(AppConfig):
    """Agent WebSocket gateway, tool registry and the message bus."""

    name = "bus"
    verbose_name = "Gateway and message bus"
