"""Models of the bus app: the tool registry, the message_bus store, call history."""

from bus.models.calls import CallRecord
from bus.models.messages import BusEvent, Message
from bus.models.tools import Provider, Tool

__all__ = ["BusEvent", "CallRecord", "Message", "Provider", "Tool"]
