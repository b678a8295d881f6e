"""A bare Channels echo consumer: the floor our gateway is compared against."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from benchmarks.ws_throughput import echo_reply  # noqa: E402


class BareEcho(AsyncWebsocketConsumer):
    """Parse each frame and answer a call_tool with its result, nothing else."""

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        reply = echo_reply(json.loads(text_data or "{}"))
        await self.send(text_data=json.dumps(reply, separators=(",", ":")))


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"^(ws/?)?$", BareEcho.as_asgi())])}
)
