"""Models of the bus app: the tool registry and the message_bus store."""

from bus.models.messages import BusEvent, Message
from bus.models.tools import Provider, Tool
from bus.models.upstreams import McpUpstream

__all__ = ["BusEvent", "McpUpstream", "Message", "Provider", "Tool"]
