"""Models of the bus app: the tool registry, the message_bus store, call history."""

from bus.models.calls import CallRecord
from bus.models.messages import BusEvent, Message
from bus.models.tools import Provider, Tool
from bus.models.upstreams import McpUpstream

__all__ = ["BusEvent", "CallRecord", "McpUpstream", "Message", "Provider", "Tool"]
