"""Admin of the bus app, split by concern: the gateway (tools, providers, capacity,
call history, upstream MCP servers) and the message bus (stored messages, events,
overview)."""

from bus.gateway import admin as gateway_admin  # noqa: F401  (registers ModelAdmins)
from bus.gateway import call_admin  # noqa: F401  (registers ModelAdmins)
from bus.gateway.upstreams import admin as upstreams_admin  # noqa: F401  (registers)
from bus.store import admin as store_admin  # noqa: F401  (registers ModelAdmins)
