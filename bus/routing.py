"""WebSocket routes of the agent gateway: the canonical /ws/ and the bare host:port."""

from django.urls import re_path

from bus.consumers import AgentConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/?$", AgentConsumer.as_asgi()),
    re_path(r"^$", AgentConsumer.as_asgi()),
]
