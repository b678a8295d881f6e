"""WebSocket routes of the agent gateway."""

websocket_urlpatterns: list = []
