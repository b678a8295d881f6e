"""Admin of the bus app, split by concern: the gateway (tools, tokens, capacity)
and the message bus (stored messages, events, overview)."""

from bus import admin_gateway, admin_messages  # noqa: F401  (registers ModelAdmins)
